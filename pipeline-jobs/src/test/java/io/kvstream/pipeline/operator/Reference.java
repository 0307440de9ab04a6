package io.kvstream.pipeline.operator;

import io.kvstream.generate.ContinuousBatcher;
import io.kvstream.generate.Engine;
import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.TokenListener;
import io.kvstream.kv.KvCache;
import io.kvstream.kv.KvSpec;
import io.kvstream.sampling.SamplingParams;

import javax.annotation.Nullable;

import java.util.Arrays;

/**
 * A chat session run on the engine directly, one request at a time: what the operator must
 * answer. It feeds exactly what a session holds: the BOS and rendered turns, the generated ids,
 * and the end-of-turn token before the next turn.
 */
final class Reference {

    private final Engine engine;
    private final KvCache cache;
    private final ContinuousBatcher batcher;
    private String unfed = "<|bos|>";
    private int[] unfedIds = new int[0];

    Reference(Engine engine, String kvSpec) {
        this.engine = engine;
        this.cache = engine.newCache(KvSpec.parse(kvSpec));
        this.batcher = new ContinuousBatcher(engine.backend(), 1, 256, 64);
    }

    /** The reply to a user turn. */
    String turn(String text, int maxNewTokens) {
        Prompt prompt = new Prompt().add(unfedIds);
        prompt.add(engine.tokenizer().encode(unfed + "<|user|>" + text + "<|end|><|assistant|>"));
        int before = cache.tokens();
        int[][] result = new int[1][];
        GenerationRequest request = new GenerationRequest(
                "ref", prompt, cache, maxNewTokens, engine.stopTokens(), SamplingParams.GREEDY,
                new TokenListener() {
                    @Override
                    public void onToken(GenerationRequest r, int token, int index) {}

                    @Override
                    public void onFinish(GenerationRequest r, FinishReason reason, @Nullable String error) {
                        result[0] = r.generated();
                    }
                });
        batcher.submit(request);
        batcher.runToCompletion();
        int held = cache.tokens() - before - prompt.length();
        unfedIds = Arrays.copyOfRange(result[0], held, result[0].length);
        unfed = "<|end|>";
        return engine.tokenizer().decode(result[0]);
    }
}
