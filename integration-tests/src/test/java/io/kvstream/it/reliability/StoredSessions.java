package io.kvstream.it.reliability;

import static io.kvstream.it.reliability.Pipeline.FACT;
import static io.kvstream.it.reliability.Pipeline.QUESTION;
import static io.kvstream.it.reliability.Pipeline.turn;

import io.kvstream.local.LocalStack;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.schema.ResponseEvent;

import org.apache.flink.api.common.JobStatus;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Two sessions left in a savepoint, for the tests that restore them under other conditions: a
 * text session "t" told a fact, and a video session "v" shown a frame and asked about it.
 */
final class StoredSessions {

    private StoredSessions() {}

    /** Serves both sessions on a job of {@code config}, stops it with a savepoint; returns its path. */
    static String save(LocalStack stack, Path dir) throws Exception {
        Pipeline.send(stack.kafkaConfig(), turn("t", "t1", FACT, 8), Pipeline.frame("v", "f0", 0, 5),
                Pipeline.query("v", "q0", "what is in frame 0?", 4));
        Pipeline.answers(stack.kafkaConfig(), List.of("t1", "q0"), Duration.ofSeconds(60), Duration.ZERO);
        return stack.stopWithSavepoint(dir);
    }

    /**
     * Restores the savepoint on a job of {@code config}, asks both sessions again, and has a fresh
     * session "f" told the same fact and asked the same question: what a text session of this job
     * must answer. Returns all answers; the job must still run after them.
     */
    static Map<String, List<ResponseEvent>> restoreAndAsk(LocalStack stack, String savepoint, PipelineConfig config)
            throws Exception {
        stack.restore(Pipeline.job(config), savepoint);
        Pipeline.send(stack.kafkaConfig(), turn("t", "t2", QUESTION, 8),
                Pipeline.query("v", "q1", "what is in frame 0?", 4),
                turn("f", "f1", FACT, 8), turn("f", "f2", QUESTION, 8));
        Map<String, List<ResponseEvent>> answers = Pipeline.answers(stack.kafkaConfig(),
                List.of("t2", "q1", "f1", "f2"), Duration.ofSeconds(60), Duration.ofSeconds(1));
        if (stack.jobStatus() != JobStatus.RUNNING) {
            throw new AssertionError("The job is " + stack.jobStatus() + ", not running");
        }
        return answers;
    }
}
