package io.kvstream.connect.serde;

import io.kvstream.connect.DeadLetters;
import io.kvstream.connect.Decoded;
import io.kvstream.schema.codec.MessageDecodingException;
import io.kvstream.schema.codec.SingleObjectCodec;

import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static org.apache.flink.util.Preconditions.checkNotNull;

/**
 * Reads single-object encoded values into {@link Decoded} records. A value that cannot be decoded
 * (garbage, a tombstone, an unknown schema version, a malformed body) becomes a dead letter rather
 * than an exception: one bad record must not restart the job, which would read it again and fail
 * forever.
 *
 * <p>Metrics: {@code decodedRecords} and {@code deadLetters} on the source's metric group.
 */
public final class DecodingKafkaDeserializer<T extends SpecificRecord>
        implements KafkaRecordDeserializationSchema<Decoded<T>> {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(DecodingKafkaDeserializer.class);

    /** Dead letters logged one by one before logging only every {@link #LOG_EVERY}-th. */
    private static final long LOG_FIRST = 10;
    private static final long LOG_EVERY = 1000;

    private final Class<T> valueType;
    private final RecordCheck<T> check;
    private transient SingleObjectCodec<T> codec;
    private transient Counter decoded;
    private transient Counter deadLetters;

    public DecodingKafkaDeserializer(Class<T> valueType) {
        this(valueType, RecordCheck.none());
    }

    /** @param check what a decoded record must also satisfy; one that fails becomes a dead letter */
    public DecodingKafkaDeserializer(Class<T> valueType, RecordCheck<T> check) {
        this.valueType = checkNotNull(valueType);
        this.check = checkNotNull(check);
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
        codec = SingleObjectCodec.forSpecific(valueType);
        decoded = context.getMetricGroup().counter("decodedRecords");
        deadLetters = context.getMetricGroup().counter("deadLetters");
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Decoded<T>> out) {
        if (codec == null) {
            // Used outside a Flink source (tests, tools): open() was never called.
            codec = SingleObjectCodec.forSpecific(valueType);
            decoded = new SimpleCounter();
            deadLetters = new SimpleCounter();
        }
        T value;
        try {
            value = codec.decode(record.value());
        } catch (MessageDecodingException e) {
            deadLetter(record, DeadLetters.describe(e), out);
            return;
        }
        String problem = check.problem(record.key(), value);
        if (problem != null) {
            deadLetter(record, "InvalidRecord: " + problem, out);
            return;
        }
        decoded.inc();
        out.collect(Decoded.of(value));
    }

    private void deadLetter(ConsumerRecord<byte[], byte[]> record, String error, Collector<Decoded<T>> out) {
        deadLetters.inc();
        long count = deadLetters.getCount();
        if (count <= LOG_FIRST || count % LOG_EVERY == 0) {
            LOG.warn("Dead letter #{} at {}-{}@{}: {}", count, record.topic(), record.partition(), record.offset(), error);
        }
        out.collect(Decoded.failed(DeadLetters.of(record, error)));
    }

    @Override
    public TypeInformation<Decoded<T>> getProducedType() {
        return DecodedTypeInfo.forValues(valueType);
    }
}
