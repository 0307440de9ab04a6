package io.kvstream.pipeline;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.pipeline.model.ModelFiles;

import org.apache.flink.util.ParameterTool;
import org.apache.flink.util.TimeUtils;

import javax.annotation.Nullable;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The job's command line, {@code flink run kvstream-job.jar ARGS}. Parsed with Flink's own {@link
 * ParameterTool}: the job jar carries no command-line framework (picocli serves the {@code
 * kvstream} tools, in the other jar). Every option has a default, and {@code --help} lists them.
 * Checkpointing, the state backend and parallelism are not options: they come from Flink's
 * configuration, as for any job.
 */
public final class JobArguments {

    /** One option: its name without dashes, a label for its value, its default and its help. */
    public record Option(String name, String label, @Nullable String fallback, String help) {}

    public static final List<Option> OPTIONS = List.of(
            new Option("bootstrap", "HOST:PORT", "localhost:9092", "Kafka bootstrap servers"),
            new Option("kafka-config", "FILE", null,
                    "Kafka client properties (security.protocol, sasl.*, ssl.*, kvstream.* settings), read where"
                            + " the job is submitted"),
            new Option("events", "TOPIC", "kvstream.events", "topic of session events"),
            new Option("responses", "TOPIC", "kvstream.responses", "topic of responses"),
            new Option("dead-letters", "TOPIC", "kvstream.dead-letters", "topic of undecodable events"),
            new Option("delivery", "exactly-once|at-least-once", "exactly-once",
                    "exactly-once writes responses in Kafka transactions (read them with"
                            + " isolation.level=read_committed); at-least-once may repeat some after a failure"),
            new Option("create-topics", "true|false", "true",
                    "create missing topics before the job starts (partitions, replication from kvstream.*"
                            + " settings in --kafka-config)"),
            new Option("model", "PATH|URI", null,
                    "model file (GGUF, or a Hugging Face checkpoint folder): a path present on every"
                            + " TaskManager, or a URI any Flink file system reads (file://, s3://, hdfs://),"
                            + " fetched once per TaskManager into a local cache; required"),
            new Option("mmproj", "PATH|URI", null, "vision projector GGUF, for video sessions"),
            new Option("tokenizer", "PATH|URI", null, "a tokenizer.json overriding the model's own"),
            new Option("kv", "SPEC", "full", "KV cache of every session, e.g. kivi2, int8,"
                    + " kivi2+window:sink=4,recent=256, full+dtd:threshold=8; long for sessions past the"
                    + " model's context (a window with a memory of what it evicts: docs/memory.md)"),
            new Option("device", "cpu|cuda|auto", "auto",
                    "where the forward pass runs; auto takes CUDA where a device is usable, else the CPU"),
            new Option("threads", "N", "0",
                    "forward-pass threads per subtask; 0: the TaskManager's cores divided by its slots"),
            new Option("max-sequences", "N", "16", "sequences one batched step carries at most"),
            new Option("max-step-tokens", "N", "512", "tokens one step carries at most"),
            new Option("prefill-chunk", "N", "128", "prompt tokens one sequence feeds per step at most"),
            new Option("max-wait-ms", "MS", "5",
                    "how long a request at an idle subtask waits for others to share its first step"),
            new Option("max-in-flight", "N", "64",
                    "requests generating at once per subtask; beyond it the operator backpressures"),
            new Option("hot-set-mb", "MB", "256", "decoded KV caches kept in memory between requests, per subtask"),
            new Option("recent-event-ids", "N", "64", "event ids remembered per session to drop producer retries"),
            new Option("max-attempts", "N", "3",
                    "starts an event gets before it is answered with an error and skipped: a failed shared step"
                            + " is retried on its own, a crash of the task is counted after the restore"),
            new Option("idle-timeout", "DURATION", "30 min",
                    "a session without an event for this long is freed and told so (SessionClosed); 0 keeps"
                            + " sessions until they end"),
            new Option("job-name", "NAME", "kvstream", "the Flink job's name"),
            new Option("help", "", null, "print this and exit"));

    /** What ParameterTool stores for an option given without a value (its constant is protected). */
    private static final String NO_VALUE = "__NO_VALUE_KEY";

    private final Map<String, String> values;

    private JobArguments(Map<String, String> values) {
        this.values = values;
    }

    /**
     * @throws IllegalArgumentException naming the option, for an unknown option, a missing value
     *     or a value of the wrong kind
     */
    public static JobArguments parse(String... args) {
        ParameterTool given;
        try {
            given = ParameterTool.fromArgs(args);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Bad arguments: " + e.getMessage() + "\n" + usageHint(), e);
        }
        Map<String, String> values = new LinkedHashMap<>();
        for (Option o : OPTIONS) {
            if (o.fallback() != null) {
                values.put(o.name(), o.fallback());
            }
        }
        for (String key : given.toMap().keySet()) {
            Option option = OPTIONS.stream().filter(o -> o.name().equals(key)).findFirst().orElseThrow(
                    () -> new IllegalArgumentException("Unknown option --" + key + "\n" + usageHint()));
            String value = given.get(key);
            boolean flag = option.label().isEmpty();
            if (!flag && (value == null || value.equals(NO_VALUE))) {
                throw new IllegalArgumentException("--" + key + " needs a value (" + option.label() + ")");
            }
            values.put(key, flag ? "true" : value);
        }
        JobArguments parsed = new JobArguments(values);
        if (!parsed.help()) {
            parsed.validate();
        }
        return parsed;
    }

    private void validate() {
        if (!values.containsKey("model")) {
            throw new IllegalArgumentException("--model is required: " + option("model").help());
        }
        for (Option o : OPTIONS) {
            if (o.label().equals("N") || o.label().equals("MS") || o.label().equals("MB")) {
                integer(o.name());
            }
        }
        duration("idle-timeout");
        String delivery = values.get("delivery");
        if (!delivery.equals("exactly-once") && !delivery.equals("at-least-once")) {
            throw new IllegalArgumentException(
                    "--delivery must be exactly-once or at-least-once, got '" + delivery + "'");
        }
        String create = values.get("create-topics");
        if (!create.equals("true") && !create.equals("false")) {
            throw new IllegalArgumentException("--create-topics must be true or false, got '" + create + "'");
        }
    }

    public boolean help() {
        return values.containsKey("help");
    }

    public boolean createTopics() {
        return Boolean.parseBoolean(values.get("create-topics"));
    }

    public String jobName() {
        return values.get("job-name");
    }

    /** The Kafka side: the file's settings, then the options, which win. */
    public KvstreamKafkaConfig kafka() throws IOException {
        List<String> keyValues = new ArrayList<>();
        keyValues.add("bootstrap.servers=" + values.get("bootstrap"));
        keyValues.add(KvstreamKafkaConfig.EVENTS_TOPIC + "=" + values.get("events"));
        keyValues.add(KvstreamKafkaConfig.RESPONSES_TOPIC + "=" + values.get("responses"));
        keyValues.add(KvstreamKafkaConfig.DEAD_LETTERS_TOPIC + "=" + values.get("dead-letters"));
        keyValues.add(KvstreamKafkaConfig.DELIVERY + "=" + values.get("delivery"));
        String file = values.get("kafka-config");
        return KvstreamKafkaConfig.load(file == null ? null : Path.of(file), keyValues);
    }

    /**
     * The pipeline settings. Relative model paths are made absolute against the directory the
     * job is submitted from, so that {@code flink run} from a checkout works on a local cluster.
     */
    public PipelineConfig pipeline() throws IOException {
        return PipelineConfig.builder(location(values.get("model")))
                .kafka(kafka())
                .mmprojPath(optionalLocation("mmproj"))
                .tokenizerPath(optionalLocation("tokenizer"))
                .kvSpec(values.get("kv"))
                .device(values.get("device"))
                .threads(integer("threads"))
                .maxSequences(integer("max-sequences"))
                .maxStepTokens(integer("max-step-tokens"))
                .prefillChunk(integer("prefill-chunk"))
                .maxWait(Duration.ofMillis(integer("max-wait-ms")))
                .maxInFlight(integer("max-in-flight"))
                .hotSetBytes((long) integer("hot-set-mb") << 20)
                .recentEventIds(integer("recent-event-ids"))
                .maxAttempts(integer("max-attempts"))
                .idleTimeout(duration("idle-timeout"))
                .build();
    }

    @Nullable
    private String optionalLocation(String name) {
        String value = values.get(name);
        return value == null ? null : location(value);
    }

    private static String location(String value) {
        return ModelFiles.isUri(value) ? value : Path.of(value).toAbsolutePath().normalize().toString();
    }

    private Duration duration(String name) {
        String value = values.get(name);
        if (value.trim().equals("0")) {
            return Duration.ZERO;
        }
        try {
            return TimeUtils.parseDuration(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "--" + name + " takes a duration such as 30 min, 90 s or 2 h, got '" + value + "'", e);
        }
    }

    private int integer(String name) {
        String value = values.get(name);
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " takes a whole number, got '" + value + "'", e);
        }
    }

    private static Option option(String name) {
        return OPTIONS.stream().filter(o -> o.name().equals(name)).findFirst().orElseThrow();
    }

    private static String usageHint() {
        return "Run with --help for the options.";
    }

    /** The options, their defaults and what they do. */
    public static void printUsage(PrintStream out) {
        out.println("Usage: flink run [-d] [-p N] kvstream-job.jar --model PATH|URI [OPTIONS]");
        out.println();
        out.println("Serves chat and video sessions from Kafka with each session's KV cache in Flink keyed state.");
        out.println("Checkpointing (required), the state backend and parallelism come from Flink's configuration.");
        out.println();
        for (Option o : OPTIONS) {
            String head = "  --" + o.name() + (o.label().isEmpty() ? "" : " " + o.label());
            out.printf("%-44s %s%s%n", head, o.help(), o.fallback() == null ? "" : " (default: " + o.fallback() + ")");
        }
    }
}
