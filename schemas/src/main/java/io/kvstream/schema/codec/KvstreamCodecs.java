package io.kvstream.schema.codec;

import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

/** The codecs of the records on kvstream's topics, each with its shipped history. */
public final class KvstreamCodecs {

    private KvstreamCodecs() {}

    public static SingleObjectCodec<SessionEvent> sessionEvents() {
        return Holder.SESSION_EVENTS;
    }

    public static SingleObjectCodec<ResponseEvent> responseEvents() {
        return Holder.RESPONSE_EVENTS;
    }

    public static SingleObjectCodec<DeadLetter> deadLetters() {
        return Holder.DEAD_LETTERS;
    }

    // Loaded on first use: parsing the history files is not free, and a failure should name the
    // codec that was asked for.
    private static final class Holder {
        static final SingleObjectCodec<SessionEvent> SESSION_EVENTS =
                SingleObjectCodec.forSpecific(SessionEvent.class);
        static final SingleObjectCodec<ResponseEvent> RESPONSE_EVENTS =
                SingleObjectCodec.forSpecific(ResponseEvent.class);
        static final SingleObjectCodec<DeadLetter> DEAD_LETTERS =
                SingleObjectCodec.forSpecific(DeadLetter.class);
    }
}
