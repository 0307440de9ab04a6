package org.apache.flink.connector.kafka.sink;

import java.util.Properties;

/** Test access to what a built sink will hand its Kafka producers. */
public final class KafkaSinkAccess {

    private KafkaSinkAccess() {}

    public static Properties producerConfig(KafkaSink<?> sink) {
        return sink.getKafkaProducerConfig();
    }
}
