package io.kvstream.client;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.eval.EvalReport;
import io.kvstream.eval.EvalRunner;
import io.kvstream.eval.EvalSample;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code kvstream replay}: an eval set through a running pipeline, scored as offline {@code eval}
 * scores it, plus what only a pipeline has: time to first token and throughput under concurrency.
 */
@Command(name = "replay", mixinStandardHelpOptions = true,
        description = "Replay an eval set through a running pipeline, one session per sample, and print accuracy,"
                + " throughput and time to first token.")
public final class ReplayCommand implements Callable<Integer> {

    @Mixin KafkaOptions kafka;

    @Mixin ReplayOptions replay;

    /** The options {@code replay} and {@code local --replay} share. */
    public static final class ReplayOptions {
        @Option(names = "--sessions", paramLabel = "N", description = "samples in flight at once (default: ${DEFAULT-VALUE})")
        public int sessions = 16;

        @Option(names = "--limit", paramLabel = "N", description = "replay only the first N samples")
        public int limit = Integer.MAX_VALUE;

        @Option(names = "--json", paramLabel = "OUT.json", description = "write the summary here")
        @Nullable
        public Path json;

        @Option(names = "--answers", paramLabel = "OUT.jsonl", description = "write one line per sample here")
        @Nullable
        public Path answers;

        @Option(names = "--sample-timeout", paramLabel = "SECONDS",
                description = "give up on a sample after this long (default: ${DEFAULT-VALUE})")
        public int timeoutSeconds = 600;
    }

    @Option(names = "--data", required = true, paramLabel = "EVAL.jsonl", description = "samples to replay")
    Path data;

    @Override
    public Integer call() throws Exception {
        return run(kafka.config(), data, replay, "(pipeline's)", "(pipeline's)", System.out, null);
    }

    /** What the caller knows about the pipeline besides the answers, printed and added to the summary. */
    @FunctionalInterface
    public interface Report {
        void addTo(ObjectNode summary, PrintStream out) throws Exception;
    }

    /**
     * Replays, prints and writes the results.
     *
     * @param model, kv what to write in the summary's {@code model} and {@code kv} fields
     * @param report adds to the printed and written summary once the replay is done
     * @return 0 when every sample was answered
     */
    public static int run(KvstreamKafkaConfig config, Path data, ReplayOptions o, String model, String kv,
                          PrintStream out, @Nullable Report report) throws Exception {
        List<EvalSample> samples = EvalSample.read(data);
        if (samples.size() > o.limit) {
            samples = samples.subList(0, o.limit);
        }
        System.err.printf("replay: %d samples of %s, %d sessions in flight, via %s%n",
                samples.size(), data, o.sessions, config.bootstrapServers());
        Replay.Outcome outcome = new Replay(config, new Replay.Options(
                o.sessions, EvalRunner.MAX_NEW_TOKENS, Duration.ofSeconds(o.timeoutSeconds), true, System.err))
                .run(samples);
        EvalReport.print(outcome.eval(), out);
        printThroughput(outcome, out);
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode summary = EvalReport.summary(mapper, model, kv, outcome.eval());
        if (report != null) {
            report.addTo(summary, out);
        }
        if (o.json != null) {
            ObjectNode pipeline = summary.putObject("pipeline");
            pipeline.put("sessions", o.sessions);
            pipeline.put("generated_tokens", outcome.generatedTokens());
            pipeline.put("cached_tokens", outcome.cachedTokens());
            pipeline.put("generated_tokens_per_s", outcome.generatedTokensPerSecond());
            pipeline.put("samples_per_s", outcome.samplesPerSecond());
            pipeline.put("ttft_ms_p50", outcome.ttftMs().p50());
            pipeline.put("ttft_ms_p99", outcome.ttftMs().p99());
            pipeline.put("server_ttft_ms_p50", outcome.serverTtftMs().p50());
            pipeline.put("server_ttft_ms_p99", outcome.serverTtftMs().p99());
            mapper.writeValue(o.json.toFile(), summary);
        }
        if (o.answers != null) {
            EvalReport.writeAnswers(new ObjectMapper(), outcome.eval(), o.answers);
        }
        return outcome.eval().failed() == 0 ? 0 : 1;
    }

    static void printThroughput(Replay.Outcome o, PrintStream out) {
        out.printf("throughput: %.1f generated tokens/s, %.2f samples/s (%d prompt tokens, %d generated)%n",
                o.generatedTokensPerSecond(), o.samplesPerSecond(), o.eval().promptTokens(), o.generatedTokens());
        out.printf("time to first token: p50 %.0f ms, p99 %.0f ms end to end; pipeline's own p50 %.0f ms, p99 %.0f ms%n",
                o.ttftMs().p50(), o.ttftMs().p99(), o.serverTtftMs().p50(), o.serverTtftMs().p99());
    }
}
