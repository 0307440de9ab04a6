package io.kvstream.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Callable;

/** {@code kvstream chat}: an interactive chat with a session of a running pipeline. */
@Command(name = "chat", mixinStandardHelpOptions = true,
        description = "Chat with a running pipeline: each line is a user turn of one session, the reply streams back.")
public final class ChatCommand implements Callable<Integer> {

    @Mixin KafkaOptions kafka;

    @Option(names = "--session", paramLabel = "ID",
            description = "session id; an existing one continues that conversation (default: a new one)")
    @Nullable
    String session;

    @Option(names = "--max-new", paramLabel = "N", description = "most tokens per reply (default: ${DEFAULT-VALUE})")
    int maxNew = 128;

    @Option(names = "--timeout", paramLabel = "SECONDS", description = "wait this long for a reply (default: ${DEFAULT-VALUE})")
    int timeoutSeconds = 300;

    @Override
    public Integer call() throws Exception {
        KvstreamKafkaConfig config = kafka.config();
        try (SessionEventProducer producer = SessionEventProducer.create(config)) {
            run(config, producer, session, maxNew, Duration.ofSeconds(timeoutSeconds));
        }
        return 0;
    }

    /** The chat on stdin and stdout; shared with {@code local}. */
    public static void run(KvstreamKafkaConfig config, SessionEventProducer producer, @Nullable String session,
                           int maxNew, Duration timeout) throws Exception {
        int[] count = {0};
        new ChatLoop(config, producer, text -> EvalEvents.userTurn(text, maxNew), timeout, ChatLoop.NO_COMMANDS)
                .run(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), System.out,
                        () -> count[0]++ == 0 && session != null ? session : ChatLoop.newSessionId("chat"));
    }
}
