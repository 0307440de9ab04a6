package io.kvstream.kv.evict;

import static org.apache.flink.util.Preconditions.checkArgument;

import javax.annotation.Nullable;

/**
 * H2O (Zhang et al., 2023) / Scissorhands: the heavy hitters, the slots that have gathered the
 * most attention over the session (summed over the query heads of the group), plus a window of
 * recent slots, which have not had the time to gather any. Each head chooses on its own.
 * Tokens keep their original positions.
 *
 * <p>The cache holds at most {@code budget} slots per head ({@code budget.of(tokens)} for a
 * fractional budget), {@code recent} of them (half the budget unless given) the most recent.
 */
public final class H2oPolicy implements EvictionPolicy {

    private final Budget budget;
    @Nullable private final Integer recent;
    private final TopK topK = new TopK();

    public H2oPolicy(Budget budget, @Nullable Integer recent) {
        checkArgument(recent == null || recent >= 0, "h2o recent must be >= 0, not %s", recent);
        checkArgument(
                recent == null || budget.tokens() == 0 || recent < budget.tokens(),
                "h2o recent %s must be below the budget %s", recent, budget);
        this.budget = budget;
        this.recent = recent;
    }

    @Override
    public String spec() {
        return "h2o:budget=" + budget + (recent == null ? "" : ",recent=" + recent);
    }

    @Override
    public boolean positionsInCache() {
        return false;
    }

    @Override
    public boolean observes(int stepTokens) {
        return true;
    }

    @Override
    public boolean counts(int token, int stepTokens) {
        return true;
    }

    @Override
    public boolean accumulates() {
        return true;
    }

    @Override
    public int select(int held, int stepTokens, int tokens, float[] scores, int[] keep) {
        int total = Math.max(1, budget.of(tokens));
        if (held <= total) {
            return EvictionPolicy.keepAll(held, keep);
        }
        int window = Math.min(total, recent != null ? recent : total / 2);
        int candidates = held - window;
        int k = topK.select(scores, candidates, total - window, keep, 0);
        for (int i = candidates; i < held; i++) {
            keep[k++] = i;
        }
        return k;
    }
}
