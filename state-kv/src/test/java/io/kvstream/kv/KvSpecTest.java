package io.kvstream.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvstream.kv.evict.H2oPolicy;
import io.kvstream.kv.evict.SnapKvPolicy;
import io.kvstream.kv.evict.WindowPolicy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class KvSpecTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "full|full",
        "FP16|fp16",
        " int8 |int8",
        "kivi4|kivi4:group=64,vgroup=64,residual=token,vbits=4,kmeta=fp16",
        "kivi2|kivi2:group=32,vgroup=64,residual=keys8,vbits=3,kmeta=q8",
        "kivi2:group=32,vgroup=64|kivi2:group=32,vgroup=64,residual=keys8,vbits=3,kmeta=q8",
        "kivi2:vgroup=32|kivi2:group=32,vgroup=32,residual=keys8,vbits=3,kmeta=q8",
        "kivi2:residual=int8,vbits=2,kmeta=fp16|kivi2:group=32,vgroup=64,residual=int8,vbits=2,kmeta=fp16",
        "kivi4:group=32|kivi4:group=32,vgroup=64,residual=token,vbits=4,kmeta=fp16",
        "kivi2:residual=token|kivi2:group=32,vgroup=64,residual=token,vbits=3,kmeta=q8",
        "kivi4:residual=fp16,group=32|kivi4:group=32,vgroup=64,residual=fp16,vbits=4,kmeta=fp16",
        "kivi4:residual=int8|kivi4:group=64,vgroup=64,residual=int8,vbits=4,kmeta=fp16",
        "kivi4:group=64,residual=token+h2o:budget=64|kivi4:group=64,vgroup=64,residual=token,vbits=4,kmeta=fp16+h2o:budget=64",
        "kivi2+window:sink=4,recent=256|kivi2:group=32,vgroup=64,residual=keys8,vbits=3,kmeta=q8+window:sink=4,recent=256",
        "fp16+window:recent=128|fp16+window:sink=4,recent=128",
        "int8+h2o:budget=512|int8+h2o:budget=512",
        "int8+h2o:budget=0.5,recent=64|int8+h2o:budget=0.5,recent=64",
        "kivi4+snapkv:budget=1024,window=32|kivi4:group=64,vgroup=64,residual=token,vbits=4,kmeta=fp16+snapkv:budget=1024,window=32,pool=7",
        "kivi4+snapkv:budget=0.25|kivi4:group=64,vgroup=64,residual=token,vbits=4,kmeta=fp16+snapkv:budget=0.25,window=32,pool=7",
        "kivi2:residual=int8|kivi2:group=32,vgroup=64,residual=int8,vbits=3,kmeta=q8",
        "kivi2:vbits=3/3/3,kmeta=fp16|kivi2:group=32,vgroup=64,residual=keys8,vbits=3,kmeta=fp16",
        "kivi2:vbits=4/2/2/3|kivi2:group=32,vgroup=64,residual=keys8,vbits=4/2/2/3,kmeta=q8",
        "kivi4:vbits=2|kivi4:group=64,vgroup=64,residual=token,vbits=2,kmeta=fp16",
    })
    void parsesToCanonicalForm(String text, String canonical) {
        KvSpec spec = KvSpec.parse(text);
        assertThat(spec.toString()).isEqualTo(canonical);
        assertThat(KvSpec.parse(canonical)).isEqualTo(spec);
        // What state stores now reads back as itself, whatever the defaults of the day.
        assertThat(KvSpec.canonicalStored(canonical)).isEqualTo(canonical);
    }

    /**
     * Specs that state stored before KIVI parameters were spelled out left out the defaults of
     * their day: group 32, value group 64, fp16 residual. A bare {@code kivi2} or {@code kivi4}
     * there is not what the names mean now.
     */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "kivi2|kivi2:group=32,vgroup=64,residual=fp16,vbits=2,kmeta=fp16",
        "kivi4|kivi4:group=32,vgroup=64,residual=fp16,vbits=4,kmeta=fp16",
        "kivi2:group=32,vgroup=32|kivi2:group=32,vgroup=32,residual=fp16,vbits=2,kmeta=fp16",
        "kivi4:group=64,vgroup=64,residual=token|kivi4:group=64,vgroup=64,residual=token,vbits=4,kmeta=fp16",
        "kivi2:residual=token|kivi2:group=32,vgroup=64,residual=token,vbits=2,kmeta=fp16",
        "kivi2+window:sink=4,recent=256|kivi2:group=32,vgroup=64,residual=fp16,vbits=2,kmeta=fp16+window:sink=4,recent=256",
        // Written before value bits and key metadata were options: values at the codec's bits, fp16 key grids.
        "kivi2:group=32,vgroup=64,residual=int8|kivi2:group=32,vgroup=64,residual=int8,vbits=2,kmeta=fp16",
        "kivi4:group=64,vgroup=64,residual=token+h2o:budget=64|kivi4:group=64,vgroup=64,residual=token,vbits=4,kmeta=fp16+h2o:budget=64",
        "fp16+h2o:budget=512|fp16+h2o:budget=512",
        "full|full",
        "kivi9|kivi9",
    })
    void readsStoredSpecsWithTheirWritersDefaults(String stored, String canonical) {
        assertThat(KvSpec.canonicalStored(stored)).isEqualTo(canonical);
    }

    /** What {@code kivi2} meant from issue #11 until 3-bit values: state written then is not today's. */
    @Test
    void theInt8ResidualKivi2IsNotTodaysDefault() {
        String stored = "kivi2:group=32,vgroup=64,residual=int8";
        assertThat(KvSpec.canonicalStored(stored)).isEqualTo("kivi2:group=32,vgroup=64,residual=int8,vbits=2,kmeta=fp16");
        assertThat(KvSpec.canonicalStored(stored)).isNotEqualTo(KvSpec.parse("kivi2").toString());
    }

    @Test
    void bareKiviNamesInStateAreNotTodaysDefaults() {
        assertThat(KvSpec.canonicalStored("kivi2")).isNotEqualTo(KvSpec.parse("kivi2").toString());
        assertThat(KvSpec.canonicalStored("kivi4")).isNotEqualTo(KvSpec.parse("kivi4").toString());
    }

    @Test
    void buildsFreshCodecsAndPolicies() {
        KvSpec spec = KvSpec.parse("kivi2+window:sink=2,recent=8");
        assertThat(spec.newCodec(64).name()).isEqualTo("kivi2");
        assertThat(spec.newCodec(64)).isNotSameAs(spec.newCodec(64));
        assertThat(spec.newPolicy()).isInstanceOf(WindowPolicy.class);
        assertThat(((WindowPolicy) spec.newPolicy()).recent(1000)).isEqualTo(8);
        assertThat(KvSpec.parse("fp16+h2o:budget=10").newPolicy()).isInstanceOf(H2oPolicy.class);
        assertThat(KvSpec.parse("fp16+snapkv:budget=10").newPolicy()).isInstanceOf(SnapKvPolicy.class);
        assertThat(KvSpec.parse("fp16").newPolicy()).isNull();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "|empty kv spec",
        "kivi3|unknown codec 'kivi3'",
        "int8:group=4|takes no parameters",
        "kivi2:grp=4|unknown parameter 'grp' for kivi2",
        "kivi2:group=0|must be positive",
        "kivi2:residual=bf16|residual takes fp16, int8, keys8 or token, not bf16",
        "kivi2:vbits=5|vbits takes 2, 3 or 4 per layer, not 5",
        "kivi2:vbits=4/1|vbits takes 2, 3 or 4 per layer, not 4/1",
        "kivi2:vbits=4/|vbits takes 2, 3 or 4 per layer",
        "kivi2:kmeta=q4|kmeta takes fp16 or q8, not q4",
        "kivi2+|missing eviction policy",
        "kivi2+lru:size=3|unknown eviction policy 'lru'",
        "kivi2+window:sink=4|window needs recent",
        "kivi2+window:sink=4,recent=x|budget 'x' is neither a count nor a fraction",
        "kivi2+window:sink=4,recent=1.5|fraction in (0, 1]",
        "kivi2+window:sink=-1,recent=8|sink must be >= 0",
        "fp16+h2o:recent=4|h2o needs budget",
        "fp16+h2o:budget=1.5|fraction in (0, 1]",
        "fp16+h2o:budget=abc|neither a count nor a fraction",
        "fp16+h2o:budget=10,recent=10|must be below the budget",
        "fp16+snapkv:budget=10,pool=4|pool must be odd",
        "fp16+window:sink=4,sink=5,recent=3|given twice",
        "fp16+window:sink|not name=value",
    })
    void rejectsBadSpecsClearly(String text, String message) {
        assertThatThrownBy(() -> KvSpec.parse(text == null ? "" : text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    @Test
    void perLayerValueBitsMustNameEveryLayer() {
        KvSpec spec = KvSpec.parse("kivi2:vbits=4/2/3");
        assertThat(spec.layersNamed()).isEqualTo(3);
        assertThat(KvSpec.parse("kivi2:vbits=3").layersNamed()).isZero();
        assertThat(((io.kvstream.kv.codec.KiviCodec) spec.newCodec(64, 2)).valueBits()).isEqualTo(3);
        assertThat(((io.kvstream.kv.codec.KiviCodec) spec.newCodec(64, 0)).valueBits()).isEqualTo(4);
        assertThatThrownBy(() -> new CompressedKvCache(spec, 2, 2, 2, 64, 100, new RopeSpec(64, 1e4f, false)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("names value bits for 3 layers, the model has 2");
    }

    @Test
    void blocksMustHoldWholeKeyGroups() {
        assertThatThrownBy(() -> new CompressedKvCache(
                        KvSpec.parse("kivi2:group=48"), 1, 2, 2, 64, 100, new RopeSpec(64, 1e4f, false)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("whole key groups");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "fp16+window:recent=128+memory:retrieve=4|fp16+window:sink=4,recent=128+memory:retrieve=4",
        "fp16+window:recent=128+memory:retrieve=4,limit=64m,follow=1|fp16+window:sink=4,recent=128+memory:retrieve=4",
        "fp16+window:recent=128+memory:retrieve=4,limit=512k,queries=8|fp16+window:sink=4,recent=128+memory:retrieve=4,limit=512k,queries=8",
        "fp16+window:recent=128+memory:retrieve=4,share=head,place=keep,candidates=16|fp16+window:sink=4,recent=128+memory:retrieve=4,share=head,place=keep,candidates=16",
        "fp16+window:recent=128+memory:retrieve=4,match=off,span=0|fp16+window:sink=4,recent=128+memory:retrieve=4",
        "fp16+window:recent=128+memory:retrieve=4,after=8,span=40,match=focus|fp16+window:sink=4,recent=128+memory:retrieve=4,match=focus,span=40,after=8",
    })
    void memoryPartsHaveCanonicalForms(String text, String canonical) {
        KvSpec spec = KvSpec.parse(text);
        assertThat(spec.toString()).isEqualTo(canonical);
        assertThat(KvSpec.parse(canonical)).isEqualTo(spec);
        assertThat(spec.memory()).isNotNull();
    }

    @Test
    void longIsTheSpecForSessionsPastTheTrainedContext() {
        KvSpec spec = KvSpec.parse("long");
        assertThat(spec).isEqualTo(KvSpec.parse(KvSpec.LONG));
        assertThat(spec.memory()).isNotNull();
        // Sinks, the retrieved region, the window and one step of at most the window's size.
        CompressedKvCache cache = new CompressedKvCache(spec, 1, 2, 2, 64, 4096, new RopeSpec(64, 1e4f, false));
        int sink = 4;
        assertThat(sink + spec.memory().retrieve() * cache.blockTokens() + 2 * cache.maxStepTokens())
                .isLessThanOrEqualTo(1024);
        // As a --kv argument it also drops unchanged video patches, at the threshold the model was trained with.
        CacheSpec argument = CacheSpec.parse("long");
        assertThat(argument.kv()).isEqualTo(spec);
        assertThat(argument.dropThreshold()).isEqualTo(8f);
        assertThat(CacheSpec.parse(argument.toString())).isEqualTo(argument);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "kivi2+memory:retrieve=4|keeps what a window evicts",
        "kivi2+h2o:budget=64+memory:retrieve=4|keeps what a window evicts",
        "kivi2+window:recent=128+memory|memory needs retrieve",
        "kivi2+window:recent=128+memory:retrieve=0|retrieve must be in 1..1024",
        "kivi2+window:recent=128+memory:retrieve=4,limit=lots|not a byte count",
        "kivi2+window:recent=128+memory:retrieve=4+memory:retrieve=2|memory given twice",
        "kivi2+window:recent=128+memory:retrieve=4,share=all|share takes head, layer or step",
        "kivi2+window:recent=128+memory:retrieve=4,match=words|match takes off, tokens or focus",
        "kivi2+window:recent=128+memory:retrieve=4,span=-1|span must be >= 0",
        "kivi2+window:recent=128+memory:retrieve=4,depth=3|unknown parameter 'depth' for memory",
    })
    void rejectsBadMemoryPartsClearly(String text, String message) {
        assertThatThrownBy(() -> KvSpec.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    @Test
    void aMemoryNeedsAWindowOfAtLeastOneBlock() {
        assertThatThrownBy(() -> new CompressedKvCache(
                        KvSpec.parse("kivi2+window:recent=32+memory:retrieve=4"), 1, 2, 2, 64, 100,
                        new RopeSpec(64, 1e4f, false)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("window of at least one block");
    }
}
