package io.kvstream.generate;

import io.kvstream.kv.KvCache;
import io.kvstream.sampling.SamplingParams;

import java.util.Arrays;

/**
 * One prompt to extend into the cache and continue from. The batcher keeps its progress here:
 * how much of the prompt is prefilled, the tokens drawn so far and the next token to feed.
 */
public final class GenerationRequest {

    private final String id;
    private final Prompt prompt;
    private final KvCache cache;
    private final int maxNewTokens;
    private final int[] stopTokens;
    private final SamplingParams sampling;
    private final TokenListener listener;

    private int prefilled;
    /** The prompt's tokens followed by the drawn ones: what the repetition penalty looks at. */
    private int[] history;
    private int historyLength;
    private int pending = -1;
    private boolean finished;
    private boolean isolated;

    /**
     * @param cache the sequence's cache; the prompt is appended after what it already holds
     * @param maxNewTokens 0 only prefills the prompt (a context message) and draws nothing
     */
    public GenerationRequest(
            String id, Prompt prompt, KvCache cache, int maxNewTokens, int[] stopTokens,
            SamplingParams sampling, TokenListener listener) {
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
        }
        this.id = id;
        this.prompt = prompt;
        this.cache = cache;
        this.maxNewTokens = maxNewTokens;
        this.stopTokens = stopTokens.clone();
        this.sampling = sampling;
        this.listener = listener;
        this.history = Arrays.copyOf(prompt.tokens(), prompt.length() + Math.min(maxNewTokens, 256));
        this.historyLength = prompt.length();
    }

    /**
     * Runs this request in steps of its own, so that a failure in the forward pass is known to be
     * its own. For requests retried after a step they shared failed.
     */
    public GenerationRequest isolate() {
        this.isolated = true;
        return this;
    }

    public boolean isolated() {
        return isolated;
    }

    public String id() {
        return id;
    }

    public Prompt prompt() {
        return prompt;
    }

    public KvCache cache() {
        return cache;
    }

    public int maxNewTokens() {
        return maxNewTokens;
    }

    public SamplingParams sampling() {
        return sampling;
    }

    public TokenListener listener() {
        return listener;
    }

    public boolean finished() {
        return finished;
    }

    /** Tokens drawn so far (stop token excluded). */
    public int[] generated() {
        return Arrays.copyOfRange(history, prompt.length(), historyLength);
    }

    public int generatedCount() {
        return historyLength - prompt.length();
    }

    int prefilled() {
        return prefilled;
    }

    void advancePrefill(int n) {
        prefilled += n;
    }

    boolean prefillDone() {
        return prefilled == prompt.length();
    }

    int pending() {
        return pending;
    }

    void setPending(int token) {
        pending = token;
    }

    boolean isStop(int token) {
        for (int s : stopTokens) {
            if (s == token) {
                return true;
            }
        }
        return false;
    }

    void record(int token) {
        if (historyLength == history.length) {
            history = Arrays.copyOf(history, Math.max(16, historyLength * 2));
        }
        history[historyLength++] = token;
    }

    int[] history() {
        return history;
    }

    int historyLength() {
        return historyLength;
    }

    void finish() {
        finished = true;
    }
}
