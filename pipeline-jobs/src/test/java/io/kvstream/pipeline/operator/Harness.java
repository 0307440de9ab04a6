package io.kvstream.pipeline.operator;

import io.kvstream.connect.serde.SingleObjectTypeSerializer;
import io.kvstream.pipeline.InferenceJob;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.mailbox.Mail;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

import javax.annotation.Nullable;

import java.util.List;
import java.util.Optional;

/** The inference operator in Flink's keyed operator test harness, with its mailbox run by hand. */
final class Harness implements AutoCloseable {

    final KeyedOneInputStreamOperatorTestHarness<String, SessionEvent, ResponseEvent> harness;

    Harness(PipelineConfig config, @Nullable OperatorSubtaskState restore) throws Exception {
        harness = new KeyedOneInputStreamOperatorTestHarness<>(
                new SessionInferenceOperatorFactory(config), new InferenceJob.SessionKey(), Types.STRING,
                new SingleObjectTypeSerializer<>(SessionEvent.class));
        harness.setup(new SingleObjectTypeSerializer<>(ResponseEvent.class));
        if (restore != null) {
            harness.initializeState(restore);
        }
        harness.open();
    }

    Harness(PipelineConfig config) throws Exception {
        this(config, null);
    }

    SessionInferenceOperator operator() {
        return (SessionInferenceOperator) harness.getOperator();
    }

    /** Takes events without running any step mail. */
    Harness send(SessionEvent... events) throws Exception {
        for (SessionEvent e : events) {
            harness.processElement(new StreamRecord<>(e));
        }
        return this;
    }

    /** Sets the operator's processing time, firing the timers due by then. */
    Harness at(long processingTimeMillis) throws Exception {
        harness.setProcessingTime(processingTimeMillis);
        return this;
    }

    /** Runs mails (steps) until none is left. */
    Harness drain() throws Exception {
        while (runMail()) {
            // keep going
        }
        return this;
    }

    /** Runs up to {@code n} mails; each step of the batcher is one. */
    Harness runMails(int n) throws Exception {
        for (int i = 0; i < n && runMail(); i++) {
            // keep going
        }
        return this;
    }

    private boolean runMail() throws Exception {
        Optional<Mail> mail = harness.getTaskMailbox().tryTake(TaskMailbox.MIN_PRIORITY);
        if (mail.isEmpty()) {
            return false;
        }
        mail.get().run();
        return true;
    }

    Harness sendAndDrain(SessionEvent... events) throws Exception {
        for (SessionEvent e : events) {
            send(e);
            drain();
        }
        return this;
    }

    List<ResponseEvent> output() {
        return harness.extractOutputValues();
    }

    OperatorSubtaskState snapshot(long checkpointId) throws Exception {
        harness.prepareSnapshotPreBarrier(checkpointId);
        return harness.snapshot(checkpointId, checkpointId);
    }

    @Override
    public void close() throws Exception {
        harness.close();
    }
}
