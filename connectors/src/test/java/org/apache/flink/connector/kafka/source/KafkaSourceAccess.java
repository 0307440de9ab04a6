package org.apache.flink.connector.kafka.source;

import org.apache.flink.configuration.Configuration;

/** Test access to what a built source will hand its Kafka consumers. */
public final class KafkaSourceAccess {

    private KafkaSourceAccess() {}

    public static Configuration configuration(KafkaSource<?> source) {
        return source.getConfiguration();
    }
}
