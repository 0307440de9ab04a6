package io.kvstream.pipeline.operator;

import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;

/**
 * Creates {@link SessionInferenceOperator}s with the task's mailbox executor, which the operator
 * drives its batched steps through.
 */
public final class SessionInferenceOperatorFactory extends AbstractStreamOperatorFactory<ResponseEvent>
        implements OneInputStreamOperatorFactory<SessionEvent, ResponseEvent> {

    private static final long serialVersionUID = 1L;

    private final PipelineConfig config;

    public SessionInferenceOperatorFactory(PipelineConfig config) {
        this.config = config.withoutKafka();
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends StreamOperator<ResponseEvent>> T createStreamOperator(
            StreamOperatorParameters<ResponseEvent> parameters) {
        return (T) new SessionInferenceOperator(parameters, config);
    }

    @Override
    @SuppressWarnings("rawtypes")
    public Class<? extends StreamOperator> getStreamOperatorClass(ClassLoader classLoader) {
        return SessionInferenceOperator.class;
    }
}
