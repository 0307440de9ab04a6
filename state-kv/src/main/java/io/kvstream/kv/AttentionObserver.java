package io.kvstream.kv;

/**
 * Receives attention weights from the forward pass, for eviction policies that rank tokens by
 * the attention they get (H2O, SnapKV). Called from the forward pass's worker threads, at most
 * once per (layer, query head, token) and concurrently for different ones.
 */
public interface AttentionObserver {

    /**
     * The softmax weights of one query over the slots of its kv head.
     *
     * @param layer layer of the attention
     * @param queryHead query head; its kv head is {@code queryHead / (heads / kvHeads)}
     * @param token index of the query within the step's new tokens
     * @param stepTokens number of new tokens in the step
     * @param weights weights over slots {@code [0, slots)}: the held slots, then the step's tokens
     * @param slots number of weights
     */
    void observe(int layer, int queryHead, int token, int stepTokens, float[] weights, int slots);
}
