package io.kvstream.local;

import io.kvstream.client.ChatLoop;
import io.kvstream.client.ChatSession;
import io.kvstream.client.EvalEvents;
import io.kvstream.client.SyntheticVideo;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.schema.VideoFrame;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;

/**
 * {@code kvstream local --demo}: a scripted chat and a video session of the kind the reference
 * model was trained on (state a fact, talk about something else, ask it back; frames with a
 * glyph, ask what was shown when), printing every answer with its timings and whether it is right.
 */
public final class LocalDemo {

    /** One scripted turn; {@code expected} null when any answer will do. */
    record Turn(String text, String expected) {}

    static final List<Turn> CHAT = List.of(
            new Turn("my favorite color is white.", "noted."),
            new Turn("repeat after me: kopefu medela siha", "kopefu medela siha"),
            new Turn("what is 3 plus 4?", "7"),
            new Turn("my lucky number is 4711.", "noted."),
            new Turn("guni rocode vo te nabo kohare lorola.", "ok."),
            new Turn("what is my favorite color?", "white"),
            new Turn("what is my lucky number?", "4711"));

    private final KvstreamKafkaConfig config;
    private final PrintStream out;
    private final Duration timeout;

    public LocalDemo(KvstreamKafkaConfig config, PrintStream out, Duration timeout) {
        this.config = config;
        this.out = out;
        this.timeout = timeout;
    }

    /** Runs both parts; returns how many answers were not the expected ones. */
    public int run() throws Exception {
        try (SessionEventProducer producer = SessionEventProducer.create(config)) {
            return chat(producer) + video(producer);
        }
    }

    private int chat(SessionEventProducer producer) throws Exception {
        int wrong = 0;
        try (ChatSession session = new ChatSession(config, producer, ChatLoop.newSessionId("demo-chat"), timeout)) {
            out.println("== chat, session " + session.id());
            for (Turn t : CHAT) {
                wrong += ask(session, EvalEvents.userTurn(t.text(), 16), t.text(), t.expected());
            }
            session.end("demo done");
        }
        return wrong;
    }

    private int video(SessionEventProducer producer) throws Exception {
        int wrong = 0;
        SyntheticVideo video = new SyntheticVideo(7);
        try (ChatSession session = new ChatSession(config, producer, ChatLoop.newSessionId("demo-video"), timeout)) {
            out.println("== video, session " + session.id());
            int t = 0;
            for (int batch : new int[] {6, 5}) {
                StringBuilder shown = new StringBuilder();
                for (int i = 0; i < batch; i++, t++) {
                    byte[] rgb = video.next();
                    session.send(VideoFrame.newBuilder().setIndex(t).setTimestampMs(t * 1000L)
                            .setWidth(SyntheticVideo.SIZE).setHeight(SyntheticVideo.SIZE)
                            .setRgb(ByteBuffer.wrap(rgb)).build());
                    shown.append(i == 0 ? "" : ", ").append("t=").append(t).append(' ').append(video.shown(t));
                }
                out.println("(sent frames: " + shown + ")");
                int early = t == batch ? 1 : batch + 1;
                String q1 = "what was shown at t=" + early + "?";
                wrong += ask(session, EvalEvents.videoQuery(q1, 8), q1, video.shown(early));
                wrong += ask(session, EvalEvents.videoQuery("what is shown now?", 8), "what is shown now?",
                        video.shown(t - 1));
            }
            String q = "what was shown at t=2?";
            wrong += ask(session, EvalEvents.videoQuery(q, 8), q, video.shown(2));
            session.end("demo done");
        }
        return wrong;
    }

    private int ask(ChatSession session, Object request, String text, String expected) throws Exception {
        out.println("user> " + text);
        out.print("assistant> ");
        ChatSession.Reply reply = session.askAndPrint(request, out);
        boolean right = expected == null || reply.text().strip().equals(expected);
        if (!right) {
            out.println("  (expected: " + expected + ")");
        }
        return right ? 0 : 1;
    }
}
