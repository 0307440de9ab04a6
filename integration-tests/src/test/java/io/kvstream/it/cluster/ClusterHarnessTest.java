package io.kvstream.it.cluster;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The harness alone, without the job: a Kafka broker process takes and serves records, a
 * JobManager and two TaskManager processes form a cluster with 4 slots, Flink's CLI front end
 * talks to it, and each TaskManager's Prometheus endpoint answers. When this fails, the cluster
 * tests that run the job cannot say anything.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ClusterHarnessTest {

    private static KafkaBrokerProcess kafka;
    private static FlinkProcessCluster flink;

    @RegisterExtension
    static final ProcessLogsOnFailure LOGS = new ProcessLogsOnFailure(() -> flink, () -> kafka);

    @BeforeAll
    static void start() throws Exception {
        Path work = ClusterPaths.work().resolve("harness-" + System.currentTimeMillis());
        kafka = KafkaBrokerProcess.start(ClusterPaths.kafkaLib(), work.resolve("kafka"));
        flink = FlinkProcessCluster.start(ClusterPaths.flinkLib(), work.resolve("flink"), 2);
    }

    @AfterAll
    static void stop() {
        if (flink != null) {
            flink.close();
        }
        if (kafka != null) {
            kafka.close();
        }
    }

    @Test
    void twoTaskManagersWithFourSlotsRegister() throws Exception {
        assertThat(flink.rest().taskManagers()).containsExactlyInAnyOrder("tm-0", "tm-1");
        assertThat(flink.rest().totalSlots()).isEqualTo(4);
    }

    @Test
    void cliFrontEndListsJobs() throws Exception {
        FlinkCli.Result r = new FlinkCli(flink).list();
        assertThat(r.output()).contains("No running jobs");
    }

    @Test
    void eachTaskManagerServesPrometheusMetrics() throws Exception {
        for (FlinkProcessCluster.TaskManager tm : flink.taskManagers()) {
            PrometheusScrape scrape = PrometheusScrape.scrape(tm.prometheusPort());
            assertThat(scrape.named("flink_taskmanager_Status_JVM_Memory_Heap_Used"))
                    .as("heap of %s", tm.resourceId()).isNotEmpty();
            // The reporter writes label values with '_' for characters Prometheus does not allow.
            assertThat(scrape.text()).contains("tm_id=\"" + tm.resourceId().replace('-', '_') + "\"");
        }
    }

    @Test
    void kafkaBrokerTakesAndServesRecords() throws Exception {
        String topic = "harness-check";
        Properties admin = new Properties();
        admin.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        try (Admin a = Admin.create(admin)) {
            a.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
        Properties p = new Properties();
        p.setProperty(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.setProperty(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "harness");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
            }
            producer.commitTransaction();
        }
        Properties c = new Properties();
        c.setProperty(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        c.setProperty(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (values.size() < 10 && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    values.add(r.value());
                }
            }
        }
        assertThat(values).containsExactly("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9");
    }
}
