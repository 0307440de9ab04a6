package io.kvstream.generate;

/** Why a request stopped producing tokens. */
public enum FinishReason {
    /** The model produced a stop token. */
    STOP,
    /** The request's limit of new tokens was reached. */
    LENGTH,
    /** The cache is full: the model's context (or the cache's limit) was reached. */
    CONTEXT,
    /** The request was rejected or failed; see its error. */
    ERROR
}
