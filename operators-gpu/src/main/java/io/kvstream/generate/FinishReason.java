package io.kvstream.generate;

/** Why a request stopped producing tokens. */
public enum FinishReason {
    /** The model produced a stop token. */
    STOP,
    /** The request's limit of new tokens was reached. */
    LENGTH,
    /** The cache is full: the model's context (or the cache's limit) was reached. */
    CONTEXT,
    /**
     * The request was rejected or failed; see its error. Its cache may hold part of what it fed:
     * the caller restores it from what it stored.
     */
    ERROR,
    /**
     * A forward step this request shared with others failed, so which sequence caused it is not
     * known; see its error. Its cache may hold part of the step. Run again {@link
     * GenerationRequest#isolate() isolated}, a request that fails again is the cause.
     */
    STEP_FAILED
}
