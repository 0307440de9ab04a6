package io.kvstream.kv.evict;

/**
 * Decides, after each step, which slots of one (layer, kv head) stay in the cache. Instances
 * hold scratch buffers: one per cache.
 */
public interface EvictionPolicy {

    /** The spec form, e.g. {@code window:sink=4,recent=256}. */
    String spec();

    /**
     * Whether positions are counted inside the cache (the next token takes position {@code
     * slots held}) and kept keys are re-rotated when earlier slots go; otherwise tokens keep
     * their original positions.
     */
    boolean positionsInCache();

    /** Whether attention weights of a step of this many tokens are needed at all. */
    boolean observes(int stepTokens);

    /** Whether the weights of query {@code token} of the step count towards the scores. */
    boolean counts(int token, int stepTokens);

    /** Whether scores add up over the session (H2O) or describe only the last step (SnapKV). */
    boolean accumulates();

    /**
     * Chooses the slots to keep.
     *
     * @param held slots held, including the step's tokens
     * @param stepTokens tokens of the step just committed
     * @param tokens tokens the session has fed, evicted or not
     * @param scores attention gathered per slot (zeros when the policy does not observe)
     * @param keep receives the kept slot indices, ascending; at least {@code held} long
     * @return how many slots are kept
     */
    int select(int held, int stepTokens, int tokens, float[] scores, int[] keep);

    static int keepAll(int held, int[] keep) {
        for (int i = 0; i < held; i++) {
            keep[i] = i;
        }
        return held;
    }
}
