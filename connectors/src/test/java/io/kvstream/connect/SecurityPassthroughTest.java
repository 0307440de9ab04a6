package io.kvstream.connect;

import io.kvstream.connect.client.ResponseConsumer;
import io.kvstream.connect.client.SessionEventProducer;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.KafkaSinkAccess;
import org.apache.flink.connector.kafka.source.KafkaSourceAccess;
import org.apache.kafka.common.KafkaException;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Security settings given once reach every Kafka client kvstream builds. */
class SecurityPassthroughTest {
    private static final String MARK = "NoSuchLoginModule";

    private final KvstreamKafkaConfig config =
            KvstreamKafkaConfig.fromProperties(KvstreamKafkaConfigTest.secured());

    @Test
    void reachTheFlinkSource() {
        Configuration source =
                KafkaSourceAccess.configuration(KvstreamKafka.eventSource(config));
        assertThat(source.toMap())
                .containsEntry("security.protocol", "SASL_SSL")
                .containsEntry("sasl.mechanism", "PLAIN")
                .containsEntry("sasl.jaas.config", KvstreamKafkaConfigTest.JAAS)
                .containsEntry("ssl.truststore.location", "/etc/kafka/truststore.jks")
                .containsEntry("ssl.truststore.password", "changeit")
                .containsEntry("bootstrap.servers", "broker-1:9093,broker-2:9093")
                .containsEntry("group.id", "kvstream-pipeline");
    }

    @Test
    void reachEveryFlinkSink() {
        for (KafkaSink<?> sink :
                List.of(
                        KvstreamKafka.responseSink(config),
                        KvstreamKafka.deadLetterSink(config),
                        KvstreamKafka.eventSink(config))) {
            assertThat(KafkaSinkAccess.producerConfig(sink))
                    .containsEntry("security.protocol", "SASL_SSL")
                    .containsEntry("sasl.jaas.config", KvstreamKafkaConfigTest.JAAS)
                    .containsEntry("ssl.truststore.password", "changeit")
                    .containsEntry("bootstrap.servers", "broker-1:9093,broker-2:9093")
                    // Flink's own default (1 h) is above the broker's maximum.
                    .containsEntry("transaction.timeout.ms", "60000");
        }
    }

    @Test
    void exactlyOnceSinksUseDistinctTransactionsWithATimeoutBelowTheBrokerMax() {
        Properties p = KvstreamKafkaConfigTest.secured();
        p.setProperty("kvstream.delivery", "exactly-once");
        p.setProperty("kvstream.transactional-id-prefix", "job7");
        KvstreamKafkaConfig eo = KvstreamKafkaConfig.fromProperties(p);
        Properties responses = KafkaSinkAccess.producerConfig(KvstreamKafka.responseSink(eo));
        Properties deadLetters = KafkaSinkAccess.producerConfig(KvstreamKafka.deadLetterSink(eo));
        assertThat(responses).containsEntry("transaction.timeout.ms", "60000");
        assertThat(deadLetters).containsEntry("transaction.timeout.ms", "60000");
        assertThat(deadLetters.getProperty("max.request.size"))
                .isEqualTo(String.valueOf(eo.maxDeadLetterBytes()));
        assertThat(responses).containsEntry("security.protocol", "SASL_SSL");
    }

    /**
     * A JAAS configuration that does not parse fails while the client is being built, before any
     * connection: proof that the SASL settings got into the real client.
     */
    @Test
    void reachTheAdminClientAndTheCliClients() {
        Properties p = new Properties();
        p.setProperty("bootstrap.servers", "127.0.0.1:1");
        p.setProperty("security.protocol", "SASL_PLAINTEXT");
        p.setProperty("sasl.mechanism", "PLAIN");
        p.setProperty("sasl.jaas.config", "kvstream.NoSuchLoginModule requisite;");
        KvstreamKafkaConfig bad = KvstreamKafkaConfig.fromProperties(p);

        assertThatThrownBy(() -> KvstreamTopics.ensure(bad, Duration.ofSeconds(5)))
                .isInstanceOf(KafkaException.class)
                .hasStackTraceContaining(MARK);
        assertThatThrownBy(() -> SessionEventProducer.create(bad))
                .isInstanceOf(KafkaException.class)
                .hasStackTraceContaining(MARK);
        assertThatThrownBy(() -> ResponseConsumer.forSession(bad, "s1"))
                .isInstanceOf(KafkaException.class)
                .hasStackTraceContaining(MARK);
    }
}
