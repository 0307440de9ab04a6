package io.kvstream.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The interactive part of {@code chat}, {@code video} and {@code local}: reads lines, sends each
 * as a request of the current session and streams the reply. {@code /new} starts a new session,
 * {@code /quit} (or end of input) ends.
 */
public final class ChatLoop {

    /** Extra slash commands of a mode (video's {@code /shown}); returns false for unknown ones. */
    public interface Commands {
        boolean handle(String line, PrintStream out);

        String help();
    }

    private final KvstreamKafkaConfig config;
    private final SessionEventProducer producer;
    private final Function<String, Object> requests;
    private final Duration timeout;
    private final Commands commands;

    /**
     * @param requests makes a request payload from a line the user typed
     */
    public ChatLoop(KvstreamKafkaConfig config, SessionEventProducer producer, Function<String, Object> requests,
                    Duration timeout, Commands commands) {
        this.config = config;
        this.producer = producer;
        this.requests = requests;
        this.timeout = timeout;
        this.commands = commands;
    }

    public static final Commands NO_COMMANDS = new Commands() {
        @Override
        public boolean handle(String line, PrintStream out) {
            return false;
        }

        @Override
        public String help() {
            return "";
        }
    };

    /** A session id nobody else is likely to use. */
    public static String newSessionId(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /**
     * Runs until {@code /quit} or the end of {@code in}.
     *
     * @param sessions the first session's id, then one for each {@code /new}
     */
    public void run(BufferedReader in, PrintStream out, Supplier<String> sessions) throws IOException {
        String help = "type a message; /new starts a new session, /quit ends" + commands.help();
        out.println(help);
        ChatSession session = new ChatSession(config, producer, sessions.get(), timeout);
        out.println("session " + session.id());
        try {
            while (true) {
                out.print("> ");
                out.flush();
                String line = in.readLine();
                if (line == null || line.strip().equals("/quit")) {
                    break;
                }
                line = line.strip();
                if (line.isEmpty()) {
                    continue;
                }
                if (line.equals("/new")) {
                    session.end("new session");
                    session.close();
                    session = new ChatSession(config, producer, sessions.get(), timeout);
                    out.println("session " + session.id());
                    continue;
                }
                if (line.equals("/help")) {
                    out.println(help);
                    continue;
                }
                if (line.startsWith("/") && commands.handle(line, out)) {
                    continue;
                }
                try {
                    session.askAndPrint(requests.apply(line), out);
                } catch (TimeoutException e) {
                    out.println("(no answer within " + timeout.toSeconds() + " s: is the pipeline running?)");
                } catch (ChatSession.ErrorReply e) {
                    out.println("(error: " + e.getMessage() + ")");
                }
            }
        } finally {
            session.close();
        }
    }
}
