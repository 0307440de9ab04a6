package io.kvstream.local;

import io.kvstream.connect.DeadLetterRouting;
import io.kvstream.connect.KvstreamKafka;
import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.FinishReason;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.Timings;
import io.kvstream.schema.TokenDelta;
import io.kvstream.schema.Usage;
import io.kvstream.schema.UserTurn;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.util.List;

/**
 * A stand-in for the inference job with the same wiring (Kafka source with dead letters, keyed
 * state, response sink) and no model: it answers a user turn with "#n text", n counted in keyed
 * state. Tests the local stack on its own.
 */
final class EchoJob implements LocalStack.JobDefinition {

    @Override
    public void build(StreamExecutionEnvironment env, KvstreamKafkaConfig kafka) {
        SingleOutputStreamOperator<SessionEvent> events = DeadLetterRouting.split(
                env.fromSource(KvstreamKafka.eventSource(kafka), WatermarkStrategy.noWatermarks(), "events"),
                SessionEvent.class);
        events.getSideOutput(DeadLetterRouting.DEAD_LETTERS).sinkTo(KvstreamKafka.deadLetterSink(kafka));
        events.keyBy(SessionEvent::getSessionId, Types.STRING)
                .process(new Echo(), SingleObjectTypeInfo.forRecord(ResponseEvent.class))
                .sinkTo(KvstreamKafka.responseSink(kafka));
    }

    static final class Echo extends KeyedProcessFunction<String, SessionEvent, ResponseEvent> {
        private static final long serialVersionUID = 1L;
        private transient ValueState<Integer> turns;

        @Override
        public void open(OpenContext context) {
            turns = getRuntimeContext().getState(new ValueStateDescriptor<>("turns", Types.INT));
        }

        @Override
        public void processElement(SessionEvent e, Context ctx, Collector<ResponseEvent> out) throws Exception {
            if (!(e.getPayload() instanceof UserTurn turn)) {
                return;
            }
            int n = turns.value() == null ? 1 : turns.value() + 1;
            turns.update(n);
            String text = "#" + n + " " + turn.getText();
            out.collect(response(e, TokenDelta.newBuilder().setSeq(0).setText(text).setTokenIds(List.of(1, 2)).build()));
            out.collect(response(e, FinalResponse.newBuilder().setText(text).setFinishReason(FinishReason.STOP)
                    .setUsage(new Usage(3, 0, 2)).setTimings(new Timings(0L, 1L, 2L)).build()));
        }

        private static ResponseEvent response(SessionEvent e, Object payload) {
            return ResponseEvent.newBuilder().setEventId(e.getEventId()).setSessionId(e.getSessionId())
                    .setPayload(payload).build();
        }
    }
}
