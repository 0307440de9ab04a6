package io.kvstream.it.cluster;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.UserTurn;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The cluster test's chat sessions: {@code sessions} conversations of {@code turns} user turns,
 * each turn sampled (temperature above 0) with a seed of its own, so that the tokens depend on
 * the seed, the whole context of the session and nothing else. The same workload sent to two
 * jobs must give the same answers turn by turn, whatever happened to the job in between.
 */
public final class ChatWorkload {

    private static final String[] TOPICS = {
            "the sea", "mountains", "a red bicycle", "coffee", "the moon", "old books", "rain",
            "a small dog", "trains", "music", "gardens", "winter"};

    private final int sessions;
    private final int maxNewTokens;

    public ChatWorkload(int sessions, int maxNewTokens) {
        this.sessions = sessions;
        this.maxNewTokens = maxNewTokens;
    }

    public int sessions() {
        return sessions;
    }

    public static String sessionId(int session) {
        return String.format("chat-%02d", session);
    }

    /**
     * The user's text of a turn (1-based) of a session. Turn 2 is long (a few hundred tokens): the
     * reference model answers in a few tokens, so it is the prefill of turn 2 that keeps the job
     * busy long enough for the failover test to kill a TaskManager in the middle of the turn,
     * with some sessions generating, some prefilling and some waiting.
     */
    static String text(int session, int turn) {
        String topic = TOPICS[(session * 7 + turn * 3) % TOPICS.length];
        if (turn == LONG_TURN) {
            StringBuilder sb = new StringBuilder("Remember this diary of user " + session + ".");
            for (int day = 1; day <= 36; day++) {
                sb.append(" On day ").append(day).append(" I walked past ")
                        .append(TOPICS[(session + day) % TOPICS.length]).append(" and counted ")
                        .append((session * 31 + day * 17) % 97).append(" stones.");
            }
            return sb.append(" What did I see on day 3?").toString();
        }
        return switch (turn % 3) {
            case 1 -> "Hello, I am user " + session + ". Tell me something about " + topic + ".";
            case 2 -> "Why do you say that about " + topic + "?";
            default -> "Now say it again in other words, and mention " + topic + ".";
        };
    }

    /** The turn with a long user message. */
    static final int LONG_TURN = 2;

    /** Seeded sampling, different for every session and turn. */
    static Sampling sampling(int session, int turn) {
        return Sampling.newBuilder()
                .setTemperature(1.2f)
                .setTopK(0)
                .setTopP(1.0f)
                .setSeed(1_000L * session + turn)
                .build();
    }

    /**
     * Sends turn {@code turn} of every session and waits until the broker has them all; returns
     * event id by session index.
     */
    public List<String> sendTurn(KvstreamKafkaConfig kafka, int turn) throws Exception {
        List<String> ids = new ArrayList<>();
        try (SessionEventProducer producer = SessionEventProducer.create(kafka)) {
            List<java.util.concurrent.CompletableFuture<?>> sent = new ArrayList<>();
            for (int s = 0; s < sessions; s++) {
                UserTurn payload = UserTurn.newBuilder()
                        .setText(text(s, turn))
                        .setMaxNewTokens(maxNewTokens)
                        .setSampling(sampling(s, turn))
                        .build();
                SessionEvent event = SessionEventProducer.newEvent(sessionId(s), payload);
                sent.add(producer.send(event));
                ids.add(event.getEventId());
            }
            producer.flush();
            for (var f : sent) {
                f.get(60, TimeUnit.SECONDS);
            }
        }
        return ids;
    }

    /** Keys of the answers to compare across runs. */
    public static String key(int session, int turn) {
        return sessionId(session) + "/turn-" + turn;
    }

    /** What must be equal between two runs: text, tokens generated, why it stopped. */
    public record Answer(String text, int generatedTokens, String finishReason, int cachedTokens) {
        public String comparable() {
            return finishReason + "/" + generatedTokens + ": " + text;
        }
    }

    /** Collected answers by {@link #key}. */
    public static final class Answers {
        public final Map<String, Answer> byKey = new java.util.TreeMap<>();
    }
}
