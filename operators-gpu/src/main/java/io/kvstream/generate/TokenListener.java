package io.kvstream.generate;

import javax.annotation.Nullable;

/** Receives a request's tokens as they are drawn, and its end. Called on the batcher's thread. */
public interface TokenListener {

    /** A new token; {@code index} counts from 0 within the request. Stop tokens are not passed. */
    void onToken(GenerationRequest request, int token, int index);

    /** The request ended; {@code error} is set when {@code reason} is {@link FinishReason#ERROR}. */
    void onFinish(GenerationRequest request, FinishReason reason, @Nullable String error);
}
