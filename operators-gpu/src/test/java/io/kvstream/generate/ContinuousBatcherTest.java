package io.kvstream.generate;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.KvCache;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.block.EncodedBlock;
import io.kvstream.sampling.SamplingParams;
import io.kvstream.testing.RefModel;
import io.kvstream.testing.SegmentPrompts;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class ContinuousBatcherTest {

    private static Engine engine;

    @BeforeAll
    static void open() throws Exception {
        engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"), RefModel.file("refmodel-mmproj-f16.gguf"), null, 2);
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    /** Records what each request produced. */
    static final class Recorder implements TokenListener {
        final Map<String, List<Integer>> tokens = new HashMap<>();
        final Map<String, FinishReason> reasons = new HashMap<>();
        final Map<String, String> errors = new HashMap<>();

        @Override
        public void onToken(GenerationRequest r, int token, int index) {
            List<Integer> list = tokens.computeIfAbsent(r.id(), k -> new ArrayList<>());
            assertThat(index).isEqualTo(list.size());
            list.add(token);
        }

        @Override
        public void onFinish(GenerationRequest r, FinishReason reason, @Nullable String error) {
            assertThat(reasons.put(r.id(), reason)).as("finished once").isNull();
            if (error != null) {
                errors.put(r.id(), error);
            }
        }
    }

    private static List<Prompt> prompts(int n) throws Exception {
        return SegmentPrompts.firstOf(engine.prompts(0f), RefModel.file("eval-shared.jsonl"), n);
    }

    @Test
    void manySequencesTogetherGiveWhatEachGivesAlone() throws Exception {
        List<Prompt> prompts = new ArrayList<>(prompts(6));
        SamplingParams sampled = new SamplingParams(0.9f, 40, 0.95f, 1.1f, 17);
        Recorder alone = new Recorder();
        for (int i = 0; i < prompts.size(); i++) {
            ContinuousBatcher single = new ContinuousBatcher(engine.backend(), 1, 4096, 4096);
            single.submit(request("r" + i, prompts.get(i), i % 2 == 0 ? SamplingParams.GREEDY : sampled, alone));
            single.runToCompletion();
        }
        Recorder together = new Recorder();
        // Small chunks and a tight budget: prefill and decode of different requests interleave.
        ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), 4, 300, 97);
        for (int i = prompts.size() - 1; i >= 0; i--) {
            batcher.submit(request("r" + i, prompts.get(i), i % 2 == 0 ? SamplingParams.GREEDY : sampled, together));
        }
        batcher.runToCompletion();
        assertThat(together.tokens).isEqualTo(alone.tokens);
        assertThat(together.reasons).isEqualTo(alone.reasons).hasSize(prompts.size());
        assertThat(batcher.stepsRun()).as("steps shared between requests")
                .isLessThan(prompts.stream().mapToLong(p -> p.length() / 97 + 12).sum());
    }

    @Test
    void aPromptOverTheContextFailsAloneWithoutHarmingOthers() throws Exception {
        Recorder rec = new Recorder();
        ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), 4, 2048, 512);
        Prompt tooLong = new Prompt();
        for (int i = 0; i < engine.config().contextLength() + 1; i++) {
            tooLong.add(10 + i % 100);
        }
        batcher.submit(request("long", tooLong, SamplingParams.GREEDY, rec));
        batcher.submit(request("ok", prompts(1).get(0), SamplingParams.GREEDY, rec));
        batcher.runToCompletion();
        assertThat(rec.reasons.get("long")).isEqualTo(FinishReason.ERROR);
        assertThat(rec.errors.get("long")).contains("does not fit").contains(Integer.toString(tooLong.length()));
        assertThat(rec.reasons.get("ok")).isEqualTo(FinishReason.STOP);
        assertThat(rec.tokens.get("ok")).isNotEmpty();
    }

    @Test
    void aContextMessageOnlyPrefillsAndTheNextTurnContinuesTheCache() throws Exception {
        Prompt whole = prompts(1).get(0);
        int[] ids = whole.tokens();
        int split = ids.length / 2;
        Prompt first = new Prompt().add(java.util.Arrays.copyOfRange(ids, 0, split));
        Prompt second = new Prompt().add(java.util.Arrays.copyOfRange(ids, split, ids.length));
        Recorder rec = new Recorder();
        KvCache cache = engine.newFullCache();
        ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), 2, 2048, 512);
        batcher.submit(new GenerationRequest("ctx", first, cache, 0, engine.stopTokens(), SamplingParams.GREEDY, rec));
        batcher.runToCompletion();
        assertThat(cache.tokens()).isEqualTo(split);
        assertThat(rec.tokens.get("ctx")).isNull();
        batcher.submit(new GenerationRequest("turn", second, cache, 12, engine.stopTokens(), SamplingParams.GREEDY, rec));
        Recorder whole1 = new Recorder();
        batcher.submit(request("whole", whole, SamplingParams.GREEDY, whole1));
        batcher.runToCompletion();
        assertThat(rec.tokens.get("turn")).isEqualTo(whole1.tokens.get("whole"));
    }

    /**
     * A compressing cache quantizes a prompt once it is all in, so chunked prefill (as the
     * pipeline runs it, beside other sessions) stores the same bytes and answers the same as one
     * step over the whole prompt (as offline eval runs it).
     */
    @Test
    void chunkedPrefillOfACompressedCacheEqualsOneStep() throws Exception {
        List<Prompt> prompts = prompts(3);
        for (String spec : List.of("kivi2", "int8", "kivi4+h2o:budget=0.5")) {
            KvSpec kv = KvSpec.parse(spec);
            for (int i = 0; i < prompts.size(); i++) {
                Recorder whole = new Recorder();
                CompressedKvCache wholeCache = engine.newCache(kv);
                ContinuousBatcher one = runAlone(prompts.get(i), wholeCache, 4096, whole);
                Recorder chunked = new Recorder();
                CompressedKvCache chunkedCache = engine.newCache(kv);
                ContinuousBatcher small = runAlone(prompts.get(i), chunkedCache, 37, chunked);

                assertThat(small.stepsRun()).as("chunks").isGreaterThan(one.stepsRun() + 2);
                assertThat(chunked.tokens).as("%s, prompt %s", spec, i).isEqualTo(whole.tokens);
                assertThat(blockBytes(chunkedCache)).as("%s, prompt %s", spec, i).isEqualTo(blockBytes(wholeCache));
            }
        }
    }

    private static ContinuousBatcher runAlone(Prompt prompt, KvCache cache, int chunk, Recorder recorder) {
        ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), 1, 4096, chunk);
        batcher.submit(new GenerationRequest("r", prompt, cache, 12, engine.stopTokens(), SamplingParams.GREEDY, recorder));
        batcher.runToCompletion();
        return batcher;
    }

    private static List<String> blockBytes(CompressedKvCache cache) {
        List<String> out = new ArrayList<>();
        for (EncodedBlock b : cache.blocks()) {
            out.add(b.index() + ":" + java.util.HexFormat.of().formatHex(b.bytes()));
        }
        return out;
    }

    private static GenerationRequest request(String id, Prompt p, SamplingParams s, TokenListener l) {
        return new GenerationRequest(id, p, engine.newFullCache(), 12, engine.stopTokens(), s, l);
    }
}
