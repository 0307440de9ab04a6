package io.kvstream.kv.evict;

import static org.apache.flink.util.Preconditions.checkArgument;

/**
 * SnapKV (Li et al., 2024): at the end of each prefill, each head keeps the prefix slots most
 * attended by the prefill's last {@code window} queries, plus those queries' own slots. Scores
 * are max-pooled over neighbouring slots ({@code pool} wide) so that a kept token brings its
 * context along. Decode steps only append.
 *
 * <p>A fractional budget is a fraction of the tokens the session has fed, as for H2O: a session
 * prefilled event by event keeps that share of its history, rather than halving what it holds at
 * every event.
 */
public final class SnapKvPolicy implements EvictionPolicy {

    public static final int DEFAULT_WINDOW = 32;
    public static final int DEFAULT_POOL = 7;

    private final Budget budget;
    private final int window;
    private final int pool;
    private final TopK topK = new TopK();
    private float[] pooled = new float[0];

    public SnapKvPolicy(Budget budget, int window, int pool) {
        checkArgument(window > 0, "snapkv window must be > 0, not %s", window);
        checkArgument(pool > 0 && pool % 2 == 1, "snapkv pool must be odd and positive, not %s", pool);
        this.budget = budget;
        this.window = window;
        this.pool = pool;
    }

    @Override
    public String spec() {
        return "snapkv:budget=" + budget + ",window=" + window + ",pool=" + pool;
    }

    @Override
    public boolean positionsInCache() {
        return false;
    }

    @Override
    public boolean observes(int stepTokens) {
        return stepTokens > 1;
    }

    @Override
    public boolean counts(int token, int stepTokens) {
        return token >= stepTokens - window;
    }

    @Override
    public boolean accumulates() {
        return false;
    }

    @Override
    public int select(int held, int stepTokens, int tokens, float[] scores, int[] keep) {
        if (stepTokens <= 1) {
            return EvictionPolicy.keepAll(held, keep);
        }
        int win = Math.min(window, stepTokens);
        int prefix = held - win;
        int k = budget.of(Math.max(0, tokens - win));
        if (prefix <= k) {
            return EvictionPolicy.keepAll(held, keep);
        }
        if (pooled.length < prefix) {
            pooled = new float[Math.max(prefix, pooled.length * 2)];
        }
        int r = pool / 2;
        for (int i = 0; i < prefix; i++) {
            float m = scores[i];
            int hi = Math.min(prefix - 1, i + r);
            for (int j = Math.max(0, i - r); j <= hi; j++) {
                m = Math.max(m, scores[j]);
            }
            pooled[i] = m;
        }
        int n = topK.select(pooled, prefix, k, keep, 0);
        for (int i = prefix; i < held; i++) {
            keep[n++] = i;
        }
        return n;
    }
}
