package io.kvstream.pipeline;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkNotNull;

import io.kvstream.kv.CacheSpec;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.runtime.Device;

import javax.annotation.Nullable;

import java.io.Serializable;
import java.time.Duration;

/**
 * What the inference job needs: where the events come from and go to, the model, the KV cache
 * spec and the batching limits. Checkpointing, parallelism and the state backend are the
 * runner's business.
 *
 * <p>Serializable because the operator factory carries it into the job graph; the Kafka settings
 * are not, so the operator gets a copy {@link #withoutKafka() without them}. Paths are strings:
 * {@link java.nio.file.Path} does not serialize.
 *
 * @param kafka topics and clients; null for jobs built on a given stream ({@link
 *     InferenceJob#buildForTest})
 * @param modelPath GGUF file or Hugging Face checkpoint folder
 * @param mmprojPath vision projector GGUF; null for text-only sessions
 * @param tokenizerPath a {@code tokenizer.json} overriding the model's own; usually null
 * @param threads CPU threads of the forward pass, per subtask; 0 for the TaskManager's cores
 *     divided by its slots, so that subtasks sharing a TaskManager do not fight over cores
 * @param device where the forward pass runs: {@code cpu}, {@code cuda} or {@code auto} (CUDA
 *     when a device is usable, else the CPU, saying why in the log)
 * @param kvSpec the {@code --kv} spec of every session's cache, e.g. {@code
 *     kivi2+window:sink=4,recent=256+dtd:threshold=8}
 * @param maxSequences sequences one batched step carries at most
 * @param maxStepTokens tokens one step carries at most (decode tokens plus prefill chunks)
 * @param prefillChunk prompt tokens one sequence feeds per step at most
 * @param maxWait how long a request arriving at an idle subtask waits for others to share its
 *     first step; zero starts at once
 * @param hotSetBytes decoded KV caches kept in memory between requests (LRU), in bytes
 * @param maxInFlight requests generating at once per subtask; beyond it the operator stops taking
 *     input (backpressure) until some finish
 * @param recentEventIds event ids remembered per session for deduplication
 * @param maxAttempts starts an event gets: one whose serving failed a shared step is run again on
 *     its own, and one that took the task down is found in state after the restore; once it used
 *     its attempts it is answered with an error and skipped
 * @param idleTimeout a session with no event for this long is freed (its KV cache and chat state)
 *     and told so with a {@code SessionClosed}; zero keeps sessions until they end
 */
public record PipelineConfig(
        @Nullable KvstreamKafkaConfig kafka,
        String modelPath,
        @Nullable String mmprojPath,
        @Nullable String tokenizerPath,
        int threads,
        String device,
        String kvSpec,
        int maxSequences,
        int maxStepTokens,
        int prefillChunk,
        Duration maxWait,
        long hotSetBytes,
        int maxInFlight,
        int recentEventIds,
        int maxAttempts,
        Duration idleTimeout)
        implements Serializable {

    public PipelineConfig {
        checkNotNull(modelPath, "modelPath");
        checkNotNull(kvSpec, "kvSpec");
        checkNotNull(maxWait, "maxWait");
        checkNotNull(idleTimeout, "idleTimeout");
        checkArgument(!idleTimeout.isNegative(), "idleTimeout must not be negative, got %s", idleTimeout);
        checkNotNull(device, "device");
        checkArgument(threads >= 0, "threads must not be negative (0: cores per slot), got %s", threads);
        Device.parse(device);
        checkArgument(
                maxSequences > 0 && maxStepTokens > 0 && prefillChunk > 0,
                "batch limits must be positive: sequences=%s stepTokens=%s chunk=%s",
                maxSequences, maxStepTokens, prefillChunk);
        checkArgument(!maxWait.isNegative(), "maxWait must not be negative, got %s", maxWait);
        checkArgument(hotSetBytes >= 0, "hotSetBytes must not be negative, got %s", hotSetBytes);
        checkArgument(maxInFlight > 0, "maxInFlight must be positive, got %s", maxInFlight);
        checkArgument(recentEventIds > 0, "recentEventIds must be positive, got %s", recentEventIds);
        checkArgument(maxAttempts > 0, "maxAttempts must be positive, got %s", maxAttempts);
        // Fail at build time, not in every subtask.
        CacheSpec.parse(kvSpec);
    }

    public static Builder builder(String modelPath) {
        return new Builder(modelPath);
    }

    public CacheSpec cacheSpec() {
        return CacheSpec.parse(kvSpec);
    }

    /**
     * The device to run on. A cache with a memory tier needs the CPU backend, which runs its
     * retrieval: {@code auto} then means the CPU, and {@code cuda} is refused here rather than at
     * the first request.
     */
    public Device parsedDevice() {
        Device parsed = Device.parse(device);
        if (cacheSpec().kv().memory() == null || parsed == Device.CPU) {
            return parsed;
        }
        if (parsed == Device.CUDA) {
            throw new IllegalArgumentException("--kv " + kvSpec + " has a memory tier, whose retrieval runs on the"
                    + " CPU backend only: use --device cpu (or auto)");
        }
        return Device.CPU;
    }

    /** This config without the Kafka settings, which do not serialize. */
    public PipelineConfig withoutKafka() {
        return new PipelineConfig(
                null, modelPath, mmprojPath, tokenizerPath, threads, device, kvSpec, maxSequences,
                maxStepTokens, prefillChunk, maxWait, hotSetBytes, maxInFlight, recentEventIds, maxAttempts, idleTimeout);
    }

    public Builder toBuilder() {
        return new Builder(modelPath)
                .kafka(kafka)
                .mmprojPath(mmprojPath)
                .tokenizerPath(tokenizerPath)
                .threads(threads)
                .device(device)
                .kvSpec(kvSpec)
                .maxSequences(maxSequences)
                .maxStepTokens(maxStepTokens)
                .prefillChunk(prefillChunk)
                .maxWait(maxWait)
                .hotSetBytes(hotSetBytes)
                .maxInFlight(maxInFlight)
                .recentEventIds(recentEventIds)
                .maxAttempts(maxAttempts)
                .idleTimeout(idleTimeout);
    }

    /**
     * Defaults: full cache, 16 sequences, 512 tokens a step, chunks of 128, 256 MiB hot set, the
     * TaskManager's cores divided by its slots, the device chosen automatically, sessions freed
     * after 30 minutes without an event.
     */
    public static final class Builder {
        @Nullable private KvstreamKafkaConfig kafka;
        private final String modelPath;
        @Nullable private String mmprojPath;
        @Nullable private String tokenizerPath;
        private int threads = 0;
        private String device = "auto";
        private String kvSpec = "full";
        private int maxSequences = 16;
        private int maxStepTokens = 512;
        private int prefillChunk = 128;
        private Duration maxWait = Duration.ofMillis(5);
        private long hotSetBytes = 256L << 20;
        private int maxInFlight = 64;
        private int recentEventIds = 64;
        private int maxAttempts = 3;
        private Duration idleTimeout = Duration.ofMinutes(30);

        private Builder(String modelPath) {
            this.modelPath = modelPath;
        }

        public Builder kafka(@Nullable KvstreamKafkaConfig kafka) {
            this.kafka = kafka;
            return this;
        }

        public Builder mmprojPath(@Nullable String mmprojPath) {
            this.mmprojPath = mmprojPath;
            return this;
        }

        public Builder tokenizerPath(@Nullable String tokenizerPath) {
            this.tokenizerPath = tokenizerPath;
            return this;
        }

        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        public Builder device(String device) {
            this.device = device;
            return this;
        }

        public Builder kvSpec(String kvSpec) {
            this.kvSpec = kvSpec;
            return this;
        }

        public Builder maxSequences(int maxSequences) {
            this.maxSequences = maxSequences;
            return this;
        }

        public Builder maxStepTokens(int maxStepTokens) {
            this.maxStepTokens = maxStepTokens;
            return this;
        }

        public Builder prefillChunk(int prefillChunk) {
            this.prefillChunk = prefillChunk;
            return this;
        }

        public Builder maxWait(Duration maxWait) {
            this.maxWait = maxWait;
            return this;
        }

        public Builder hotSetBytes(long hotSetBytes) {
            this.hotSetBytes = hotSetBytes;
            return this;
        }

        public Builder maxInFlight(int maxInFlight) {
            this.maxInFlight = maxInFlight;
            return this;
        }

        public Builder recentEventIds(int recentEventIds) {
            this.recentEventIds = recentEventIds;
            return this;
        }

        public Builder maxAttempts(int maxAttempts) {
            this.maxAttempts = maxAttempts;
            return this;
        }

        public Builder idleTimeout(Duration idleTimeout) {
            this.idleTimeout = idleTimeout;
            return this;
        }

        public PipelineConfig build() {
            return new PipelineConfig(
                    kafka, modelPath, mmprojPath, tokenizerPath, threads, device, kvSpec, maxSequences,
                    maxStepTokens, prefillChunk, maxWait, hotSetBytes, maxInFlight, recentEventIds, maxAttempts, idleTimeout);
        }
    }
}
