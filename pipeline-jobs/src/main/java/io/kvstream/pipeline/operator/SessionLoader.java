package io.kvstream.pipeline.operator;

import io.kvstream.generate.Engine;
import io.kvstream.generate.PromptBuilder;
import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.block.CorruptBlockException;
import io.kvstream.kv.state.SessionMeta;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.IOException;

/**
 * Brings a session's KV cache into memory for the event at hand: from the hot set, else restored
 * from its stored blocks. Blocks that cannot be used (corrupt, another spec, another model) are
 * never fed to attention: the session is recomputed from its token history, or, when it holds
 * video frames that token ids cannot reproduce, reset and told why.
 */
final class SessionLoader {

    private static final Logger LOG = LoggerFactory.getLogger(SessionLoader.class);
    private static final int[] NO_TOKENS = new int[0];

    private final Engine engine;
    private final KvSpec kv;
    private final PromptBuilder prompts;
    private final HotSessions hot;
    private final SessionStore store;
    private final InferenceMetrics metrics;

    SessionLoader(Engine engine, KvSpec kv, PromptBuilder prompts, HotSessions hot, SessionStore store,
                  InferenceMetrics metrics) {
        this.engine = engine;
        this.kv = kv;
        this.prompts = prompts;
        this.hot = hot;
        this.store = store;
        this.metrics = metrics;
    }

    /** The session's decoded cache: hot, restored from its blocks, recomputed, or new. */
    HotSession load(String session) throws Exception {
        HotSession s = hot.get(session);
        if (s != null) {
            return s;
        }
        SessionMeta stored = store.meta();
        CompressedKvCache cache = engine.newCache(kv);
        if (stored == null) {
            s = new HotSession(session, cache, NO_TOKENS);
            hot.put(s);
            return s;
        }
        int[] ids;
        try {
            ids = store.history(stored);
        } catch (IOException e) {
            s = new HotSession(session, cache, NO_TOKENS);
            reset(session, s, "its token history could not be read (" + e.getMessage() + ")");
            hot.put(s);
            return s;
        }
        String unusable = unusableBecause(stored);
        if (unusable == null) {
            try {
                cache.restore(session, stored, store.blocks(), store.memoryBlocks());
                s = new HotSession(session, cache, ids);
                // State of the first format keeps its history inline: the next store moves it to chunks.
                s.storedHistory = stored.inlineHistory() != null ? 0 : ids.length;
                metrics.restoredSessions.inc();
                hot.put(s);
                return s;
            } catch (CorruptBlockException e) {
                unusable = e.getMessage();
                cache.clear();
            }
        }
        store.dropBlocks();
        s = new HotSession(session, cache, NO_TOKENS);
        if (prompts.hasImagePositions(ids)) {
            // Frames went in as patch embeddings, which their token ids cannot reproduce:
            // recomputing would answer from a different session. Start over, and say so.
            reset(session, s, "its stored KV cache cannot be used (" + unusable + ") and it held video frames,"
                    + " which cannot be recomputed from its token history");
        } else {
            LOG.warn("Session {}: stored KV cache not used ({}); recomputing {} tokens from its history",
                    session, unusable, ids.length);
            s.recompute = ids;
            metrics.recomputedSessions.inc();
        }
        hot.put(s);
        return s;
    }

    /**
     * Why stored blocks must not be fed to this job's attention, or null: keys and values are
     * only meaningful to the weights that computed them, and another model of the same shape
     * would read them without any error. State written before the model was recorded is trusted
     * as it was before.
     */
    @Nullable
    private String unusableBecause(SessionMeta stored) {
        if (!stored.model().isEmpty() && !stored.model().equals(engine.fingerprint())) {
            return "it was computed by another model (fingerprint " + stored.model() + "; this job runs "
                    + engine.fingerprint() + ")";
        }
        if (!stored.spec().equals(kv.toString())) {
            return "it was stored with --kv " + stored.spec() + " and this job runs --kv " + kv;
        }
        return null;
    }

    /** Starts the session over, empty, and has the next event answered with why. */
    private void reset(String session, HotSession s, String why) throws Exception {
        LOG.warn("Session {}: {}; the session starts over empty", session, why);
        store.reset();
        s.lost = "The session was reset: " + why + ". This event was not processed.";
        metrics.lostSessions.inc();
    }
}
