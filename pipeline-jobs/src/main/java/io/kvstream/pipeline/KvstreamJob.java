package io.kvstream.pipeline;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamTopics;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;

/**
 * The job jar's entry point: {@code flink run kvstream-job.jar --model PATH|URI [OPTIONS]} builds
 * {@link InferenceJob} on the environment the cluster provides and runs it.
 */
public final class KvstreamJob {

    private static final Logger LOG = LoggerFactory.getLogger(KvstreamJob.class);

    private KvstreamJob() {}

    public static void main(String[] args) throws Exception {
        JobArguments arguments = JobArguments.parse(args);
        if (arguments.help()) {
            JobArguments.printUsage(System.out);
            return;
        }
        PipelineConfig config = arguments.pipeline();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        requireCheckpointing(env);
        if (arguments.createTopics()) {
            KvstreamKafkaConfig kafka = config.kafka();
            LOG.info("Topics: {}", KvstreamTopics.ensure(kafka, Duration.ofSeconds(60)));
        }
        InferenceJob.build(env, config);
        env.execute(arguments.jobName());
    }

    /**
     * Sessions' KV caches and pending requests live in keyed state: without checkpoints a failure
     * loses them, and exactly-once responses never commit. Refuse rather than run so.
     */
    static void requireCheckpointing(StreamExecutionEnvironment env) {
        if (!env.getCheckpointConfig().isCheckpointingEnabled()) {
            throw new IllegalStateException(
                    "kvstream needs checkpointing: sessions' KV caches and pending requests are keyed state,"
                            + " lost on a failure without it, and exactly-once responses commit on checkpoints."
                            + " Set execution.checkpointing.interval (e.g. 10s) in the cluster's config.yaml,"
                            + " or pass -Dexecution.checkpointing.interval=10s to flink run.");
        }
    }
}
