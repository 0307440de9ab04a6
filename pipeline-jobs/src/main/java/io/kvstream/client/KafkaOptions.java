package io.kvstream.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the pipeline's Kafka is, for the client commands: {@code --bootstrap}, plus a client
 * properties file and {@code -K key=value} pairs for security settings and topic names (see
 * {@link KvstreamKafkaConfig}).
 */
public final class KafkaOptions {

    @Option(names = {"-b", "--bootstrap"}, paramLabel = "HOST:PORT", required = true,
            description = "Kafka bootstrap servers (local mode prints them when it starts)")
    String bootstrap;

    @Option(names = "--kafka-config", paramLabel = "FILE",
            description = "Kafka client properties file (security.protocol, sasl.*, kvstream.topic.*, ...)")
    @Nullable
    Path configFile;

    @Option(names = {"-K", "--kafka-property"}, paramLabel = "KEY=VALUE",
            description = "one more Kafka client or kvstream setting; wins over --kafka-config")
    List<String> properties = new ArrayList<>();

    public KvstreamKafkaConfig config() throws IOException {
        List<String> keyValues = new ArrayList<>(properties);
        keyValues.add("bootstrap.servers=" + bootstrap);
        return KvstreamKafkaConfig.load(configFile, keyValues);
    }
}
