package io.kvstream.connect;

import io.kvstream.connect.KvstreamKafkaConfig.Client;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import java.time.Duration;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class KvstreamKafkaConfigTest {

    static final String JAAS =
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"s3cret\";";

    static Properties secured() {
        Properties p = new Properties();
        p.setProperty("bootstrap.servers", "broker-1:9093,broker-2:9093");
        p.setProperty("security.protocol", "SASL_SSL");
        p.setProperty("sasl.mechanism", "PLAIN");
        p.setProperty("sasl.jaas.config", JAAS);
        p.setProperty("ssl.truststore.location", "/etc/kafka/truststore.jks");
        p.setProperty("ssl.truststore.password", "changeit");
        return p;
    }

    @Test
    void defaults() {
        KvstreamKafkaConfig c = KvstreamKafkaConfig.builder().bootstrapServers("b:9092").build();
        assertThat(c.eventsTopic()).isEqualTo("kvstream.events");
        assertThat(c.responsesTopic()).isEqualTo("kvstream.responses");
        assertThat(c.deadLettersTopic()).isEqualTo("kvstream.dead-letters");
        assertThat(c.eventsPartitions()).isEqualTo(8);
        assertThat(c.responsesPartitions()).isEqualTo(8);
        assertThat(c.deadLettersPartitions()).isEqualTo(1);
        assertThat(c.eventsRetention()).isEqualTo(Duration.ofDays(7));
        assertThat(c.responsesRetention()).isEqualTo(Duration.ofDays(1));
        assertThat(c.deadLettersRetention()).isEqualTo(Duration.ofDays(30));
        assertThat(c.delivery()).isEqualTo(KvstreamKafkaConfig.Delivery.AT_LEAST_ONCE);
        assertThat(c.startingOffsets()).isEqualTo(KvstreamKafkaConfig.StartingOffsets.COMMITTED);
        assertThat(c.transactionTimeout()).isLessThan(Duration.ofMinutes(15));
        assertThat(c.replicationFactor()).isEqualTo((short) -1);
    }

    @Test
    void readsKvstreamSettingsAndPassesEverythingElseToEveryClient() {
        Properties p = secured();
        p.setProperty("kvstream.topic.events", "ev");
        p.setProperty("kvstream.partitions.events", "3");
        p.setProperty("kvstream.retention-ms.responses", "1000");
        p.setProperty("kvstream.delivery", "exactly-once");
        p.setProperty("kvstream.starting-offsets", "latest");
        p.setProperty("group.id", "g1");
        p.setProperty("producer.linger.ms", "5");
        p.setProperty("consumer.fetch.min.bytes", "1024");
        p.setProperty("admin.request.timeout.ms", "7000");
        p.setProperty("client.dns.lookup", "use_all_dns_ips");

        KvstreamKafkaConfig c = KvstreamKafkaConfig.fromProperties(p);

        assertThat(c.bootstrapServers()).isEqualTo("broker-1:9093,broker-2:9093");
        assertThat(c.eventsTopic()).isEqualTo("ev");
        assertThat(c.eventsPartitions()).isEqualTo(3);
        assertThat(c.responsesRetention()).isEqualTo(Duration.ofSeconds(1));
        assertThat(c.delivery()).isEqualTo(KvstreamKafkaConfig.Delivery.EXACTLY_ONCE);
        assertThat(c.startingOffsets()).isEqualTo(KvstreamKafkaConfig.StartingOffsets.LATEST);
        assertThat(c.groupId()).isEqualTo("g1");

        for (Client client : Client.values()) {
            Properties props = c.clientProperties(client);
            assertThat(props)
                    .as("%s", client)
                    .containsEntry("security.protocol", "SASL_SSL")
                    .containsEntry("sasl.mechanism", "PLAIN")
                    .containsEntry("sasl.jaas.config", JAAS)
                    .containsEntry("ssl.truststore.location", "/etc/kafka/truststore.jks")
                    .containsEntry("ssl.truststore.password", "changeit")
                    .containsEntry("client.dns.lookup", "use_all_dns_ips")
                    .containsEntry("bootstrap.servers", "broker-1:9093,broker-2:9093")
                    .doesNotContainKey("group.id")
                    .doesNotContainKeys("producer.linger.ms", "consumer.fetch.min.bytes");
            assertThat(props.stringPropertyNames()).noneMatch(k -> k.startsWith("kvstream."));
        }
        assertThat(c.clientProperties(Client.PRODUCER))
                .containsEntry("linger.ms", "5")
                .doesNotContainKeys("fetch.min.bytes", "request.timeout.ms");
        assertThat(c.clientProperties(Client.CONSUMER))
                .containsEntry("fetch.min.bytes", "1024")
                .doesNotContainKeys("linger.ms", "request.timeout.ms");
        assertThat(c.clientProperties(Client.ADMIN))
                .containsEntry("request.timeout.ms", "7000")
                .doesNotContainKeys("linger.ms", "fetch.min.bytes");
    }

    @Test
    void aPrefixedPropertyWinsOverTheCommonOne() {
        KvstreamKafkaConfig c =
                KvstreamKafkaConfig.builder()
                        .bootstrapServers("b:9092")
                        .clientProperty("request.timeout.ms", "1")
                        .clientProperty("admin.request.timeout.ms", "2")
                        .build();
        assertThat(c.clientProperties(Client.ADMIN)).containsEntry("request.timeout.ms", "2");
        assertThat(c.clientProperties(Client.CONSUMER)).containsEntry("request.timeout.ms", "1");
    }

    @Test
    void commandLineKeyValues() {
        Properties p = new Properties();
        KvstreamKafkaConfig.putKeyValue(p, "sasl.jaas.config=a=b c=d");
        KvstreamKafkaConfig.putKeyValue(p, " security.protocol = SSL ");
        assertThat(p).containsEntry("sasl.jaas.config", "a=b c=d").containsEntry("security.protocol", "SSL");
        assertThatThrownBy(() -> KvstreamKafkaConfig.putKeyValue(p, "novalue"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("key=value");
    }

    @Test
    void loadsAFileThenCommandLineOverrides(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("kafka.properties");
        Files.writeString(
                file,
                "bootstrap.servers=file:9092\nsecurity.protocol=SSL\n"
                        + "ssl.keystore.location=/k.jks\nkvstream.topic.events=from-file\n");
        KvstreamKafkaConfig c =
                KvstreamKafkaConfig.load(
                        file, List.of("security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512"));
        assertThat(c.bootstrapServers()).isEqualTo("file:9092");
        assertThat(c.eventsTopic()).isEqualTo("from-file");
        assertThat(c.clientProperties(Client.ADMIN))
                .containsEntry("security.protocol", "SASL_SSL")
                .containsEntry("sasl.mechanism", "SCRAM-SHA-512")
                .containsEntry("ssl.keystore.location", "/k.jks");
        assertThat(KvstreamKafkaConfig.load(null, List.of("bootstrap.servers=cli:1")).bootstrapServers())
                .isEqualTo("cli:1");
    }

    @Test
    void rejectsMistakes() {
        Properties typo = secured();
        typo.setProperty("kvstream.topic.event", "x");
        assertThatThrownBy(() -> KvstreamKafkaConfig.fromProperties(typo))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("kvstream.topic.event");

        Properties badNumber = secured();
        badNumber.setProperty("kvstream.partitions.events", "eight");
        assertThatThrownBy(() -> KvstreamKafkaConfig.fromProperties(badNumber))
                .hasMessageContaining("kvstream.partitions.events");

        Properties badEnum = secured();
        badEnum.setProperty("kvstream.delivery", "twice");
        assertThatThrownBy(() -> KvstreamKafkaConfig.fromProperties(badEnum))
                .hasMessageContaining("AT_LEAST_ONCE");

        assertThatThrownBy(() -> KvstreamKafkaConfig.fromProperties(new Properties()))
                .hasMessageContaining("bootstrap.servers");
        assertThatThrownBy(
                        () ->
                                KvstreamKafkaConfig.builder()
                                        .bootstrapServers("b:1")
                                        .responsesTopic("kvstream.events")
                                        .build())
                .hasMessageContaining("must differ");
        assertThatThrownBy(
                        () -> KvstreamKafkaConfig.builder().bootstrapServers("b:1").eventsTopic("a b").build())
                .hasMessageContaining("Not a valid Kafka topic name");
    }

    @Test
    void toStringShowsNoSecrets() {
        String text = KvstreamKafkaConfig.fromProperties(secured()).toString();
        assertThat(text).contains("sasl.jaas.config").doesNotContain("s3cret").doesNotContain("changeit");
    }
}
