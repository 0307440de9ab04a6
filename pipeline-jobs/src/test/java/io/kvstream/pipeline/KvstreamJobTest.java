package io.kvstream.pipeline;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.junit.jupiter.api.Test;

import java.time.Duration;

class KvstreamJobTest {

    @Test
    void refusesToRunWithoutCheckpointsAndSaysWhatToSet() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(new Configuration());
        assertThatThrownBy(() -> KvstreamJob.requireCheckpointing(env))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("execution.checkpointing.interval");
    }

    @Test
    void runsWithCheckpointsFromTheClustersConfiguration() {
        Configuration conf = new Configuration();
        conf.setString("execution.checkpointing.interval", "5s");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        assertThatCode(() -> KvstreamJob.requireCheckpointing(env)).doesNotThrowAnyException();
        env.enableCheckpointing(Duration.ofSeconds(1).toMillis());
    }
}
