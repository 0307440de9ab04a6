package io.kvstream.pipeline.operator;

import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import java.util.List;

/** Runs events through one operator in the test harness, never leaving memory: the expectation. */
public final class OperatorHarnessRun {

    private OperatorHarnessRun() {}

    public static List<ResponseEvent> run(PipelineConfig config, SessionEvent[]... phases) throws Exception {
        try (Harness h = new Harness(config)) {
            for (SessionEvent[] phase : phases) {
                h.send(phase).drain();
            }
            return h.output();
        }
    }
}
