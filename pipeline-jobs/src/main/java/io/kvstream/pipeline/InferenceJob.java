package io.kvstream.pipeline;

import static org.apache.flink.util.Preconditions.checkArgument;

import io.kvstream.connect.DeadLetterRouting;
import io.kvstream.connect.Decoded;
import io.kvstream.connect.KvstreamKafka;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.pipeline.operator.SessionInferenceOperatorFactory;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The inference job: session events from Kafka (undecodable records to the dead-letter topic),
 * keyed by session, served by the {@link
 * io.kvstream.pipeline.operator.SessionInferenceOperator}, responses to Kafka.
 *
 * <p>Operator uids are fixed, so savepoints restore across versions of the job.
 */
public final class InferenceJob {

    public static final String SOURCE_UID = "events-source";
    public static final String INFERENCE_UID = "session-inference";
    public static final String RESPONSES_SINK_UID = "responses-sink";
    public static final String DEAD_LETTERS_SINK_UID = "dead-letters-sink";

    private InferenceJob() {}

    /** Adds the whole job, Kafka to Kafka, to {@code env}. */
    public static void build(StreamExecutionEnvironment env, PipelineConfig config) {
        checkArgument(config.kafka() != null, "The job needs Kafka settings");
        KvstreamKafkaConfig kafka = config.kafka();
        DataStream<Decoded<SessionEvent>> decoded = env
                .fromSource(KvstreamKafka.eventSource(kafka), WatermarkStrategy.noWatermarks(), "events")
                .uid(SOURCE_UID);
        SingleOutputStreamOperator<SessionEvent> events = DeadLetterRouting.split(decoded, SessionEvent.class);
        events.getSideOutput(DeadLetterRouting.DEAD_LETTERS)
                .sinkTo(KvstreamKafka.deadLetterSink(kafka))
                .name("dead-letters")
                .uid(DEAD_LETTERS_SINK_UID);
        responses(events, config)
                .sinkTo(KvstreamKafka.responseSink(kafka))
                .name("responses")
                .uid(RESPONSES_SINK_UID);
    }

    /**
     * The inference part alone, on a given stream of events: for tests and for runners that bring
     * their own source and sink. Returns the responses.
     */
    public static SingleOutputStreamOperator<ResponseEvent> buildForTest(
            StreamExecutionEnvironment env, DataStream<SessionEvent> events, PipelineConfig config) {
        return responses(events, config);
    }

    /** Keys {@code events} by session and serves them. */
    public static SingleOutputStreamOperator<ResponseEvent> responses(
            DataStream<SessionEvent> events, PipelineConfig config) {
        return events.keyBy(new SessionKey(), Types.STRING)
                .transform(
                        "inference",
                        SingleObjectTypeInfo.forRecord(ResponseEvent.class),
                        new SessionInferenceOperatorFactory(config))
                .uid(INFERENCE_UID);
    }

    /** The session id: the key of the events topic, and of all per-session state. */
    public static final class SessionKey implements KeySelector<SessionEvent, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String getKey(SessionEvent event) {
            return event.getSessionId();
        }
    }
}
