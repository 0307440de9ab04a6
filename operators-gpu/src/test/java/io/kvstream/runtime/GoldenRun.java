package io.kvstream.runtime;

import io.kvstream.generate.ContinuousBatcher;
import io.kvstream.generate.Engine;
import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.TokenListener;
import io.kvstream.kv.KvCache;
import io.kvstream.sampling.SamplingParams;
import io.kvstream.testing.SegmentPrompts;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Runs golden cases through an engine: the logits at every position, and greedy decoding. */
final class GoldenRun {

    private GoldenRun() {}

    /** The case's prompt: from its segments where it has them (video), else from its ids. */
    static Prompt prompt(Engine engine, Golden g) {
        Prompt prompt = new Prompt();
        if (g.segments() == null || !g.hasFrames()) {
            return prompt.add(g.ids());
        }
        return SegmentPrompts.of(engine.prompts(0f), g.segments());
    }

    /** Logits at every position of the prompt, {@code [position][vocab]}. */
    static float[] allLogits(Engine engine, Prompt prompt) {
        KvCache cache = engine.newFullCache();
        SequenceStep step = new SequenceStep(cache);
        prompt.feed(step, 0, prompt.length());
        step.logitsFrom(0);
        engine.backend().forward(List.of(step));
        return step.logits();
    }

    /** Largest |ours - golden| over the positions the case stores. */
    static double maxDiff(float[] logits, int vocab, Golden g) {
        double max = 0;
        for (Map.Entry<Integer, float[]> e : g.logitsAt().entrySet()) {
            float[] gold = e.getValue();
            int base = e.getKey() * vocab;
            for (int v = 0; v < gold.length; v++) {
                max = Math.max(max, Math.abs(logits[base + v] - gold[v]));
            }
        }
        return max;
    }

    /** Greedy continuation of the prompt, stop token excluded. */
    static List<Integer> greedy(Engine engine, Prompt prompt, int maxNew) {
        List<Integer> out = new ArrayList<>();
        ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), 1, 512, 512);
        batcher.submit(new GenerationRequest(
                "golden", prompt, engine.newFullCache(), maxNew, engine.stopTokens(),
                SamplingParams.GREEDY,
                new TokenListener() {
                    @Override
                    public void onToken(GenerationRequest r, int token, int index) {
                        out.add(token);
                    }

                    @Override
                    public void onFinish(GenerationRequest r, FinishReason reason, @Nullable String error) {
                        if (reason == FinishReason.ERROR) {
                            throw new AssertionError(error);
                        }
                    }
                }));
        batcher.runToCompletion();
        return out;
    }

    static List<Integer> list(int[] ids) {
        List<Integer> out = new ArrayList<>(ids.length);
        for (int id : ids) {
            out.add(id);
        }
        return out;
    }
}
