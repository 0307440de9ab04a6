package io.kvstream.connect.serde;

import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.FinishReason;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.Timings;
import io.kvstream.schema.Usage;
import io.kvstream.schema.codec.KvstreamCodecs;

import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class KeyedKafkaSerializerTest {

    @Test
    void responsesAreKeyedBySessionIdInUtf8() throws Exception {
        ResponseEvent r =
                new ResponseEvent(
                        "e1",
                        "séance-1",
                        new FinalResponse(
                                "ok", FinishReason.STOP, new Usage(1, 0, 1), new Timings(0L, 1L, 2L)));
        ProducerRecord<byte[], byte[]> record =
                KeyedKafkaSerializer.responses("out").serialize(r, null, 77L);
        assertThat(record.topic()).isEqualTo("out");
        assertThat(record.partition()).as("left to the key's hash").isNull();
        assertThat(record.timestamp()).isEqualTo(77L);
        assertThat(record.key()).isEqualTo("séance-1".getBytes(StandardCharsets.UTF_8));
        assertThat(KvstreamCodecs.responseEvents().decode(record.value())).isEqualTo(r);
    }

    @Test
    void deadLettersKeepTheirOriginalKey() {
        DeadLetter dl =
                DeadLetter.newBuilder()
                        .setTopic("t")
                        .setPartition(0)
                        .setOffset(0)
                        .setKey(ByteBuffer.wrap(new byte[] {9, 8}))
                        .setError("e")
                        .setTimestampMs(0)
                        .build();
        assertThat(KeyedKafkaSerializer.deadLetters("dlq").serialize(dl, null, null).key())
                .containsExactly(9, 8);
        dl.setKey(null);
        assertThat(KeyedKafkaSerializer.deadLetters("dlq").serialize(dl, null, null).key()).isNull();
    }
}
