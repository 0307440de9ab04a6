package io.kvstream.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvstream.kv.block.CorruptBlockException;
import io.kvstream.kv.block.EncodedBlock;
import io.kvstream.kv.codec.Fp16;
import io.kvstream.kv.state.SessionMeta;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

class CompressedKvCacheTest {

    static final int LAYERS = 8;
    static final int HEADS = 8;
    static final int KV_HEADS = 2;
    static final int D = 64;
    static final RopeSpec ROPE = new RopeSpec(D, 10000f, false);

    static CompressedKvCache cache(String spec) {
        return new CompressedKvCache(KvSpec.parse(spec), LAYERS, HEADS, KV_HEADS, D, 4096, ROPE);
    }

    static CompressedKvCache cache(String spec, int layers) {
        return new CompressedKvCache(KvSpec.parse(spec), layers, HEADS, KV_HEADS, D, 4096, ROPE);
    }

    /** What each spec's cache stores after {@code tokens} tokens fed in steps of {@code step}. */
    private static Map<String, Long> storedBytes(int tokens, int step, String... specs) {
        Map<String, Long> stored = new LinkedHashMap<>();
        for (String spec : specs) {
            CompressedKvCache c = cache(spec);
            new ForwardSim(c, HEADS, ROPE, 1).feed(tokens, step);
            stored.put(spec, c.storedBytes());
        }
        return stored;
    }

    @Test
    void storedBytesPerTokenMatchTheCodecs() {
        Map<String, Double> perToken = new LinkedHashMap<>();
        storedBytes(1024, 256, "full", "fp16", "int8", "kivi4", "kivi2", "kivi4:group=32,residual=fp16",
                "kivi4:group=64,residual=fp16").forEach((spec, bytes) -> perToken.put(spec, (double) bytes / 1024));
        double fp16 = perToken.get("fp16");
        System.out.printf("stored bytes per token (8 layers x 2 kv heads x 64): %s%n", perToken);
        assertThat(fp16 / perToken.get("full")).isBetween(0.49, 0.51);
        assertThat(fp16 / perToken.get("int8")).isGreaterThanOrEqualTo(1.9);
        // A fp16 scale + zero costs 1 bit per element over a key group of 32 and 0.5 bit over a
        // value group of 64: 16 / (4 + 0.75) = 3.37 at most.
        assertThat(fp16 / perToken.get("kivi4:group=32,residual=fp16")).isGreaterThanOrEqualTo(3.25).isLessThan(3.37);
        assertThat(fp16 / perToken.get("kivi4:group=64,residual=fp16")).isGreaterThanOrEqualTo(3.5);
        // 1,024 tokens fill their blocks: no residual, and kivi4 is 16 / 4.5 = 3.56 at most.
        assertThat(fp16 / perToken.get("kivi4")).isGreaterThanOrEqualTo(3.5).isLessThan(3.56);
        // 2-bit keys with a Q8 grid (134 bytes per 32 x 64 keys: 0.52 bit) and 3-bit values with a fp16
        // scale and zero per 64: 32 / (2.52 + 3.5) = 5.31 at most.
        assertThat(fp16 / perToken.get("kivi2")).isGreaterThanOrEqualTo(5.2).isLessThan(5.32);
    }

    @Test
    void aTokenResidualCostsWhatAQuantizedTokenDoes() {
        // 1000 tokens leave 40 in an unfilled key group of 64 in every head, 8 in one of 32.
        Map<String, Long> stored = storedBytes(1000, 250, "fp16", "kivi4:group=64,residual=fp16",
                "kivi4:group=64,residual=token", "kivi2:residual=fp16", "kivi2:residual=int8");
        double fp16 = stored.get("fp16");
        assertThat(fp16 / stored.get("kivi4:group=64,residual=fp16")).isLessThan(3.35);
        // 4 bits and a fp16 scale and zero per 64 values: 16 / 4.5 = 3.56 at most.
        assertThat(fp16 / stored.get("kivi4:group=64,residual=token")).isBetween(3.5, 3.56);
        // A residual token costs a fp16 key and value (256 bytes) or an int8 row of each (2 x 68).
        // The spec strings differ in length by nothing ("fp16" and "int8"), so only that differs.
        assertThat(stored.get("kivi2:residual=fp16") - stored.get("kivi2:residual=int8"))
                .isEqualTo(8L * (256 - 2 * 68) * LAYERS * KV_HEADS);
    }

    /**
     * 1,024 tokens fill their blocks. A 3-bit value row holds 64 bits more than a 2-bit one; a Q8
     * key group stores 6 + 128 bytes of grid instead of 256. The spec strings stored with the
     * session differ by their own lengths only.
     */
    @Test
    void valueBitsAndQ8KeyGridsCostWhatTheyStore() {
        Map<String, Long> stored = storedBytes(1024, 256, "kivi2:vbits=2,kmeta=fp16", "kivi2:vbits=3,kmeta=fp16",
                "kivi2:vbits=4,kmeta=fp16", "kivi2:vbits=3,kmeta=q8", "kivi2:vbits=4/2/2/2/2/2/2/3,kmeta=fp16");
        long rows = 1024L * LAYERS * KV_HEADS;
        long groups = rows / 32;
        assertThat(stored.get("kivi2:vbits=3,kmeta=fp16") - stored.get("kivi2:vbits=2,kmeta=fp16")).isEqualTo(rows * 8);
        assertThat(stored.get("kivi2:vbits=4,kmeta=fp16") - stored.get("kivi2:vbits=2,kmeta=fp16")).isEqualTo(rows * 16);
        assertThat(stored.get("kivi2:vbits=3,kmeta=fp16") - stored.get("kivi2:vbits=3,kmeta=q8"))
                .isEqualTo(groups * (256 - 134) + ",kmeta=fp16".length() - ",kmeta=q8".length());
        // One layer at 4 bits and one at 3: their rows only, and the longer spec string.
        assertThat(stored.get("kivi2:vbits=4/2/2/2/2/2/2/3,kmeta=fp16") - stored.get("kivi2:vbits=2,kmeta=fp16"))
                .isEqualTo(1024L * KV_HEADS * (16 + 8) + "/2/2/2/2/2/2/3".length() + "4".length() - "2".length());
    }

    @Test
    void appendingRewritesOnlyTheLastBlock() {
        CompressedKvCache c = cache("kivi2", 2);
        ForwardSim sim = new ForwardSim(c, HEADS, ROPE, 2);
        sim.step(150, null);
        assertThat(c.dirtyBlocks()).containsExactly(0, 1, 2);
        c.markClean();
        byte[] block1 = c.block(1).bytes();
        sim.step(1, null);
        assertThat(c.dirtyBlocks()).containsExactly(2);
        assertThat(c.block(1).bytes()).isSameAs(block1);
        sim.step(50, null);
        assertThat(c.dirtyBlocks()).containsExactly(2, 3);
        c.markClean();
        assertThat(c.dirtyBlocks()).isEmpty();
        assertThat(c.block(4)).isNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp16", "int8", "kivi4", "kivi2", "kivi4:group=64,residual=token", "kivi2+h2o:budget=100",
        "fp16+window:sink=4,recent=50", "kivi2:vbits=4/3,kmeta=q8", "kivi2:vbits=3,kmeta=q8+window:sink=4,recent=50",
        "kivi4:vbits=3,kmeta=q8,residual=token"})
    void theForwardPassSeesWhatTheBlocksStore(String spec) throws Exception {
        CompressedKvCache c = cache(spec, 2);
        ForwardSim sim = new ForwardSim(c, HEADS, ROPE, 3);
        sim.step(100, (l, q, t, slots, w) -> w[slots - 1 - (t % slots)] = 1f);
        for (int i = 0; i < 37; i++) {
            sim.step(1, (l, q, t, slots, w) -> w[(q * 7 + slots) % slots] = 1f);
        }
        CompressedKvCache restored = cache(spec, 2);
        restored.restore("s1", c.sessionMeta("model", c.tokens()), c.blocks());
        assertThat(restored.tokens()).isEqualTo(c.tokens());
        assertThat(restored.nextPosition()).isEqualTo(c.nextPosition());
        for (int l = 0; l < 2; l++) {
            for (int h = 0; h < KV_HEADS; h++) {
                int len = c.length(l, h);
                assertThat(restored.length(l, h)).isEqualTo(len);
                for (int s = 0; s < len; s++) {
                    assertThat(restored.tokenAt(l, h, s)).isEqualTo(c.tokenAt(l, h, s));
                }
                assertThat(java.util.Arrays.copyOf(restored.keys(l, h), len * D))
                        .isEqualTo(java.util.Arrays.copyOf(c.keys(l, h), len * D));
                assertThat(java.util.Arrays.copyOf(restored.values(l, h), len * D))
                        .isEqualTo(java.util.Arrays.copyOf(c.values(l, h), len * D));
            }
        }
        assertThat(restored.blocks()).isEqualTo(c.blocks());
    }

    /**
     * State written before {@code kivi2} and {@code kivi4} changed meaning stored the bare names;
     * its blocks are key groups of 32, value groups of 64 and a fp16 residual. Today's {@code
     * kivi2} and {@code kivi4} must refuse it for its spec (the operator then recomputes from the
     * token history), and a cache given the old meaning explicitly must read it as written.
     */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "kivi2|kivi2:group=32,vgroup=64,residual=fp16,vbits=2,kmeta=fp16",
        "kivi4|kivi4:group=32,vgroup=64,residual=fp16,vbits=4,kmeta=fp16",
        // kivi2 from issue #11 until 3-bit values, as state stored it then.
        "kivi2:group=32,vgroup=64,residual=int8|kivi2:group=32,vgroup=64,residual=int8,vbits=2,kmeta=fp16"})
    void stateOfTheOldKiviDefaultsIsRefusedByTheNewOnes(String bare, String oldMeaning) throws Exception {
        CompressedKvCache old = cache(oldMeaning, 2);
        // 100 tokens: the open block holds 36, a fp16 residual of 4 behind a full key group.
        new ForwardSim(old, HEADS, ROPE, 8).step(100, null);
        SessionMeta m = old.sessionMeta("model", old.tokens());
        SessionMeta asWritten = SessionMeta.of(
                m.tokens(), m.nextPosition(), bare, m.formatVersion(), m.model(), m.historyLength());

        CompressedKvCache today = cache(bare, 2);
        assertThatThrownBy(() -> today.restore("s1", asWritten, old.blocks()))
                .isInstanceOf(CorruptBlockException.class)
                .hasMessageContaining("stored with kv spec " + bare + " (" + oldMeaning + "), this cache is "
                        + KvSpec.parse(bare));
        assertThat(today.tokens()).isZero();

        CompressedKvCache explicit = cache(oldMeaning, 2);
        explicit.restore("s1", asWritten, old.blocks());
        for (int l = 0; l < 2; l++) {
            for (int h = 0; h < KV_HEADS; h++) {
                assertThat(java.util.Arrays.copyOf(explicit.keys(l, h), 100 * D))
                        .isEqualTo(java.util.Arrays.copyOf(old.keys(l, h), 100 * D));
                assertThat(java.util.Arrays.copyOf(explicit.values(l, h), 100 * D))
                        .isEqualTo(java.util.Arrays.copyOf(old.values(l, h), 100 * D));
            }
        }
    }

    @Test
    void kiviResidualIsFp16AndFullGroupsAreQuantized() {
        CompressedKvCache c = cache("kivi2:residual=fp16,vbits=2", 1);
        ForwardSim sim = new ForwardSim(c, HEADS, ROPE, 4);
        sim.step(40, null);
        float[] v = c.values(0, 0);
        // Tokens 32..39 are the residual of the open group: fp16 of what was written.
        for (int t = 32; t < 40; t++) {
            float[] written = sim.value(0, t);
            for (int ch = 0; ch < D; ch++) {
                assertThat(v[t * D + ch]).isEqualTo(Fp16.round(written[ch]));
            }
        }
        // Token 0 went through 2-bit quantization: at most 4 distinct values per 32 channels.
        java.util.Set<Float> distinct = new java.util.HashSet<>();
        for (int ch = 0; ch < 32; ch++) {
            distinct.add(v[ch]);
        }
        assertThat(distinct.size()).isLessThanOrEqualTo(4);
        // Filling the group quantizes it.
        sim.step(24, null);
        distinct.clear();
        for (int ch = 0; ch < 32; ch++) {
            distinct.add(c.values(0, 0)[35 * D + ch]);
        }
        assertThat(distinct.size()).isLessThanOrEqualTo(4);
    }

    @Test
    void remainingAndPositions() {
        CompressedKvCache bounded = new CompressedKvCache(KvSpec.parse("int8"), 1, HEADS, KV_HEADS, D, 100, ROPE);
        new ForwardSim(bounded, HEADS, ROPE, 5).step(30, null);
        assertThat(bounded.remaining()).isEqualTo(70);
        assertThat(bounded.nextPosition()).isEqualTo(30);
        assertThatThrownBy(() -> bounded.reserve(71)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("limit is 100");
        CompressedKvCache window = cache("int8+window:sink=2,recent=10", 1);
        new ForwardSim(window, HEADS, ROPE, 5).step(30, null);
        assertThat(window.remaining()).isEqualTo(Integer.MAX_VALUE);
        assertThat(window.nextPosition()).isEqualTo(12);
        assertThat(window.tokens()).isEqualTo(30);
    }

    @Test
    void observerCostsNothingWhenNotNeeded() {
        assertThat(cache("kivi2").attentionObserver()).isNull();
        CompressedKvCache window = cache("kivi2+window:sink=4,recent=64");
        window.reserve(10);
        assertThat(window.attentionObserver()).isNull();
        CompressedKvCache snap = cache("kivi2+snapkv:budget=64,window=8");
        snap.reserve(1);
        assertThat(snap.attentionObserver()).isNull();
        snap.reserve(10);
        assertThat(snap.attentionObserver()).isNotNull();
        CompressedKvCache h2o = cache("kivi2+h2o:budget=64");
        h2o.reserve(1);
        assertThat(h2o.attentionObserver()).isNotNull();
    }

    @Test
    void clearMarksEveryBlockForDeletion() {
        CompressedKvCache c = cache("fp16", 1);
        new ForwardSim(c, HEADS, ROPE, 6).step(130, null);
        c.markClean();
        c.clear();
        assertThat(c.dirtyBlocks()).containsExactly(0, 1, 2);
        assertThat(c.block(0)).isNull();
        assertThat(c.storedBytes()).isEqualTo(
                SessionMeta.serializedSize("fp16", "0".repeat(CompressedKvCache.FINGERPRINT_CHARS)));
    }

    @Test
    void storedBytesCountBlocksAndMeta() {
        CompressedKvCache c = cache("int8", 1);
        new ForwardSim(c, HEADS, ROPE, 7).step(100, null);
        List<EncodedBlock> blocks = new ArrayList<>(c.blocks());
        long sum = 0;
        for (EncodedBlock b : blocks) {
            sum += 8 + b.bytes().length;
        }
        assertThat(c.storedBytes()).isEqualTo(sum
                + c.sessionMeta("0".repeat(CompressedKvCache.FINGERPRINT_CHARS), 100).serializedSize()
                + io.kvstream.kv.state.HistoryChunks.serializedSize(100));
    }
}
