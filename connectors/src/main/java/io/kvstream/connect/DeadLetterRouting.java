package io.kvstream.connect;

import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.schema.DeadLetter;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Splits a stream of {@link Decoded} records into the values (main output) and the dead letters
 * (side output {@link #DEAD_LETTERS}), e.g.
 *
 * <pre>{@code
 * SingleOutputStreamOperator<SessionEvent> events = DeadLetterRouting.split(decoded, SessionEvent.class);
 * events.getSideOutput(DeadLetterRouting.DEAD_LETTERS).sinkTo(KvstreamKafka.deadLetterSink(config));
 * }</pre>
 */
public final class DeadLetterRouting {

    public static final OutputTag<DeadLetter> DEAD_LETTERS =
            new OutputTag<>("dead-letters", SingleObjectTypeInfo.forRecord(DeadLetter.class));

    private DeadLetterRouting() {}

    public static <T extends SpecificRecord> SingleOutputStreamOperator<T> split(
            DataStream<Decoded<T>> decoded, Class<T> valueType) {
        return decoded.process(new Splitter<T>(), SingleObjectTypeInfo.forRecord(valueType))
                // No uid: it holds no state, and a fixed one would clash when a job splits twice.
                .name("split-dead-letters");
    }

    private static final class Splitter<T> extends ProcessFunction<Decoded<T>, T> {
        private static final long serialVersionUID = 1L;

        @Override
        public void processElement(Decoded<T> in, Context ctx, Collector<T> out) {
            if (in.isValue()) {
                out.collect(in.value());
            } else {
                ctx.output(DEAD_LETTERS, in.deadLetter());
            }
        }
    }
}
