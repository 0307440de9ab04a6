package io.kvstream.local;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.kv.CacheSpec;
import io.kvstream.cli.ModelOptions;
import io.kvstream.client.ChatCommand;
import io.kvstream.client.ChatLoop;
import io.kvstream.client.ChatSession;
import io.kvstream.client.EvalEvents;
import io.kvstream.client.ReplayCommand;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.generate.Engine;
import io.kvstream.pipeline.InferenceJob;
import io.kvstream.pipeline.PipelineConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code kvstream local}: the whole pipeline in this JVM ({@link LocalStack}), then an
 * interactive chat with it, a scripted demo, a replay of an eval set, or the benchmarks.
 */
@Command(name = "local", mixinStandardHelpOptions = true,
        description = {"Run the whole pipeline in this process (Kafka broker, topics, Flink job with RocksDB state)"
                + " and chat with it.",
            "Other terminals can use the printed bootstrap address with the chat, video and replay commands."})
public final class LocalCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(names = "--kv", paramLabel = "SPEC",
            description = "KV cache of every session, as eval's --kv (default: ${DEFAULT-VALUE})")
    String kv = "full";

    @Option(names = "--checkpoint-dir", paramLabel = "DIR", description = "where checkpoints go (default: ${DEFAULT-VALUE})")
    Path checkpointDir = Paths.get("kvstream-local", "checkpoints");

    @Option(names = "--checkpoint-interval", paramLabel = "SECONDS", description = "(default: ${DEFAULT-VALUE})")
    double checkpointSeconds = 10;

    @Option(names = "--hot-set-mb", paramLabel = "MB",
            description = "decoded KV caches kept in memory between requests; 0 restores every request's from state"
                    + " (default: ${DEFAULT-VALUE})")
    long hotSetMb = 256;

    @Option(names = "--idle-timeout-s", paramLabel = "SECONDS",
            description = "free a session's state after this long without an event, and say so; 0 never"
                    + " (default: ${DEFAULT-VALUE})")
    long idleTimeoutSeconds = 1800;

    @Option(names = "--max-sequences", paramLabel = "N", description = "sequences per batched step (default: ${DEFAULT-VALUE})")
    int maxSequences = 16;

    @Option(names = "-F", paramLabel = "KEY=VALUE", description = "a Flink setting")
    List<String> flinkSettings = new ArrayList<>();

    @Option(names = "--session", paramLabel = "ID", description = "the chat's first session id (default: a new one)")
    @Nullable
    String session;

    @Option(names = "--max-new", paramLabel = "N", description = "most tokens per chat reply (default: ${DEFAULT-VALUE})")
    int maxNew = 64;

    @Option(names = "--serve",
            description = "serve your own producers and consumers: print the bootstrap address and 'ready', then run"
                    + " until interrupted (Ctrl-C)")
    boolean serve;

    @Option(names = "--demo", description = "run a scripted chat and a video session instead of the interactive chat")
    boolean demo;

    @Option(names = "--replay", paramLabel = "EVAL.jsonl", description = "replay an eval set through the stack and exit")
    @Nullable
    Path replayData;

    @Mixin ReplayCommand.ReplayOptions replay;

    @Option(names = "--bench", arity = "0..1", fallbackValue = "all", paramLabel = "restore|throughput|load|all",
            description = "measure (a) time to first token of a returning session, KV restored from state vs"
                    + " re-prefilled, (b) throughput at several concurrencies, or (load) each of --bench-sessions with memory"
                    + " and checkpoints, on one stack; all runs (a) and (b); then exit")
    @Nullable
    String bench;

    @Option(names = "--bench-history", paramLabel = "N,N,...", split = ",",
            description = "history lengths in tokens for --bench restore (default: 256,1024,2000)")
    int[] benchHistory = {256, 1024, 2000};

    @Option(names = "--bench-sessions", paramLabel = "N,N,...", split = ",",
            description = "concurrent sessions for --bench throughput (default: 1,16,128)")
    int[] benchSessions = {1, 16, 128};

    @Option(names = "--bench-turns", paramLabel = "N", description = "turns per session for --bench throughput (default: ${DEFAULT-VALUE})")
    int benchTurns = 4;

    @Option(names = "--bench-repeats", paramLabel = "N",
            description = "measurements per history length for --bench restore, median printed (default: ${DEFAULT-VALUE})")
    int benchRepeats = 3;

    @Option(names = "--bench-max-new", paramLabel = "N",
            description = "most new tokens per turn for --bench throughput (default: ${DEFAULT-VALUE})")
    int benchMaxNew = 16;

    @Override
    public Integer call() throws Exception {
        CacheSpec.parse(kv);
        if (bench != null) {
            return bench();
        }
        try (LocalStack stack = start(hotSetMb << 20, maxSequences)) {
            if (replayData != null) {
                return ReplayCommand.run(stack.kafkaConfig(), replayData, replay,
                        modelOptions.modelPath().getFileName().toString(), CacheSpec.parse(kv).toString(), System.out,
                        (summary, out) -> {
                            // The answers came through the job's RocksDB state: say what its checkpoints did.
                            LocalStack.CheckpointCounts c = stack.checkpoints();
                            out.printf("state: RocksDB, checkpoints every %.0f s: %s%n", checkpointSeconds, c);
                            ObjectNode node = summary.putObject("checkpoints");
                            node.put("state_backend", "rocksdb");
                            node.put("interval_s", checkpointSeconds);
                            node.put("completed", c.completed());
                            node.put("failed", c.failed());
                            node.put("last_state_bytes", c.lastStateBytes());
                            node.put("last_checkpointed_bytes", c.lastCheckpointedBytes());
                            if (c.lastFailure() != null) {
                                node.put("last_failure", c.lastFailure());
                            }
                            node.put("hot_set_mb", hotSetMb);
                        });
            }
            warmUp(stack);
            if (serve) {
                return serve(stack);
            }
            if (demo) {
                int wrong = new LocalDemo(stack.kafkaConfig(), System.out, Duration.ofMinutes(5)).run();
                System.out.println(wrong == 0 ? "demo: every answer as expected" : "demo: " + wrong + " answers differ from the expected ones");
                return wrong == 0 ? 0 : 1;
            }
            try (SessionEventProducer producer = SessionEventProducer.create(stack.kafkaConfig())) {
                ChatCommand.run(stack.kafkaConfig(), producer, session, maxNew, Duration.ofMinutes(5));
            }
            return 0;
        }
    }

    /** Serves until the process is interrupted; the shutdown hook takes the stack down. */
    private static int serve(LocalStack stack) throws InterruptedException {
        KvstreamKafkaConfig kafka = stack.kafkaConfig();
        System.out.printf("kvstream local: ready: bootstrap %s, events to %s, responses on %s, dead letters on %s;"
                        + " Ctrl-C stops%n",
                stack.bootstrapServers(), kafka.eventsTopic(), kafka.responsesTopic(), kafka.deadLettersTopic());
        System.out.flush();
        new CountDownLatch(1).await();
        return 0;
    }

    /**
     * One throwaway turn before the user's first: the first request through a fresh JVM pays for
     * class loading and compilation (about a second), which would otherwise be the chat's first
     * impression and the demo's first timing.
     */
    private static void warmUp(LocalStack stack) throws Exception {
        long t0 = System.nanoTime();
        try (SessionEventProducer producer = SessionEventProducer.create(stack.kafkaConfig());
                ChatSession s = new ChatSession(stack.kafkaConfig(), producer,
                        ChatLoop.newSessionId("warm-up"), Duration.ofMinutes(2))) {
            s.ask(EvalEvents.userTurn("hello.", 4), t -> {});
            s.end("warm-up");
        }
        System.err.printf("kvstream local: warmed up in %.1f s; ready%n", (System.nanoTime() - t0) / 1e9);
    }

    private int bench() throws Exception {
        boolean all = bench.equals("all");
        if (!all && !bench.equals("restore") && !bench.equals("throughput") && !bench.equals("load")) {
            throw new IllegalArgumentException("--bench takes restore, throughput, load or all, not " + bench);
        }
        // The one-shot baseline runs on a second copy of the model with the pipeline's threads.
        try (Engine engine = Engine.open(modelOptions.modelPath(), null, modelOptions.tokenizerPath(),
                modelOptions.threads())) {
            if (all || bench.equals("restore")) {
                // Nothing stays in memory between requests: a returning session's cache comes from state.
                PipelineConfig p = pipelineConfig(0, maxSequences);
                try (LocalStack stack = start(0, maxSequences)) {
                    new PipelineBench(stack.kafkaConfig(), engine, p.maxStepTokens(), p.prefillChunk(), System.out)
                            .restoreVsPrefill(benchHistory, benchRepeats);
                }
            }
            if (bench.equals("load")) {
                // One stack for every level: memory left after each shows whether idle sessions leave it.
                long hotSet = hotSetMb << 20;
                PipelineConfig p = pipelineConfig(hotSet, maxSequences);
                try (LocalStack stack = start(hotSet, maxSequences)) {
                    PipelineBench b = new PipelineBench(
                            stack.kafkaConfig(), engine, p.maxStepTokens(), p.prefillChunk(), System.out);
                    b.level(4, 2, benchMaxNew); // warm-up
                    for (int sessions : benchSessions) {
                        LoadBench.run(stack, b, sessions, benchTurns, benchMaxNew, hotSet, System.out);
                    }
                }
            }
            if (all || bench.equals("throughput")) {
                int most = Arrays.stream(benchSessions).max().orElse(1);
                PipelineConfig p = pipelineConfig(hotSetMb << 20, Math.max(maxSequences, most));
                try (LocalStack stack = start(hotSetMb << 20, Math.max(maxSequences, most))) {
                    new PipelineBench(stack.kafkaConfig(), engine, p.maxStepTokens(), p.prefillChunk(), System.out)
                            .throughput(benchSessions, benchTurns, benchMaxNew);
                }
            }
        }
        return 0;
    }

    private LocalStack start(long hotSetBytes, int sequences) throws Exception {
        PipelineConfig pipeline = pipelineConfig(hotSetBytes, sequences);
        System.err.printf("kvstream local: starting Kafka and Flink with %s (kv %s)%n",
                modelOptions.modelPath(), CacheSpec.parse(kv));
        LocalStack.Settings settings = new LocalStack.Settings()
                .checkpointDir(checkpointDir)
                .checkpointInterval(Duration.ofMillis(Math.round(checkpointSeconds * 1000)));
        for (String kvPair : flinkSettings) {
            int eq = kvPair.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("-F takes KEY=VALUE, not " + kvPair);
            }
            settings.flink(kvPair.substring(0, eq).trim(), kvPair.substring(eq + 1).trim());
        }
        LocalStack stack = LocalStack.start(settings,
                (env, kafka) -> InferenceJob.build(env, pipeline.toBuilder().kafka(kafka).build()));
        stack.closeOnShutdown();
        stack.printInfo(System.err);
        return stack;
    }

    PipelineConfig pipelineConfig(long hotSetBytes, int sequences) throws Exception {
        Path mmproj = modelOptions.mmprojPath();
        Path tokenizer = modelOptions.tokenizerPath();
        return PipelineConfig.builder(modelOptions.modelPath().toAbsolutePath().toString())
                .mmprojPath(mmproj == null ? null : mmproj.toAbsolutePath().toString())
                .tokenizerPath(tokenizer == null ? null : tokenizer.toAbsolutePath().toString())
                .threads(modelOptions.threads())
                .device(modelOptions.device().name().toLowerCase(Locale.ROOT))
                .kvSpec(kv)
                .maxSequences(sequences)
                .maxInFlight(Math.max(64, sequences))
                .hotSetBytes(hotSetBytes)
                .idleTimeout(Duration.ofSeconds(idleTimeoutSeconds))
                .build();
    }
}
