package io.kvstream.kv.evict;

import static org.apache.flink.util.Preconditions.checkArgument;

/**
 * StreamingLLM (Xiao et al., 2023): the first {@code sink} tokens, which soak up attention that
 * has nowhere better to go, plus the {@code recent} most recent. Positions are counted inside
 * the cache, so every attention span stays within what the model was trained on.
 *
 * <p>{@code recent} is a count, or a fraction of the tokens seen: {@code recent=0.5} keeps the
 * cache at half of what the session fed (sinks included), for comparisons at equal budgets.
 */
public final class WindowPolicy implements EvictionPolicy {

    private final int sink;
    private final Budget recent;

    public WindowPolicy(int sink, int recent) {
        this(sink, new Budget(recent, 0));
    }

    public WindowPolicy(int sink, Budget recent) {
        checkArgument(sink >= 0, "window sink must be >= 0, not %s", sink);
        this.sink = sink;
        this.recent = recent;
    }

    public int sink() {
        return sink;
    }

    /** The recent window for a session that has fed {@code tokens}: at least one token. */
    public int recent(int tokens) {
        return recent.tokens() > 0 ? recent.tokens() : Math.max(1, recent.of(tokens) - sink);
    }

    public Budget recent() {
        return recent;
    }

    @Override
    public String spec() {
        return "window:sink=" + sink + ",recent=" + recent;
    }

    @Override
    public boolean positionsInCache() {
        return true;
    }

    @Override
    public boolean observes(int stepTokens) {
        return false;
    }

    @Override
    public boolean counts(int token, int stepTokens) {
        return false;
    }

    @Override
    public boolean accumulates() {
        return false;
    }

    @Override
    public int select(int held, int stepTokens, int tokens, float[] scores, int[] keep) {
        int recent = recent(tokens);
        if (held <= sink + recent) {
            return EvictionPolicy.keepAll(held, keep);
        }
        int k = 0;
        for (int i = 0; i < sink; i++) {
            keep[k++] = i;
        }
        for (int i = held - recent; i < held; i++) {
            keep[k++] = i;
        }
        return k;
    }
}
