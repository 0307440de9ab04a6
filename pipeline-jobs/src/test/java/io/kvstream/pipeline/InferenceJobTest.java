package io.kvstream.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

/** The job on a given stream of events, in a local environment. */
class InferenceJobTest {

    @Test
    void theKafkaJobWiresSourceDeadLettersInferenceAndSinks() {
        Configuration conf = new Configuration();
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        PipelineConfig config = TestModels.refmodel("kivi2")
                .kafka(KvstreamKafkaConfig.builder().bootstrapServers("localhost:9092").build())
                .build();
        InferenceJob.build(env, config);
        String plan = env.getExecutionPlan();
        assertThat(plan).contains("events", "split-dead-letters", "inference", "responses", "dead-letters");
    }

    @Test
    void greedyChatTurnStreamsDeltasAndAFinalResponse() throws Exception {
        Configuration conf = new Configuration();
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(1);
        DataStream<SessionEvent> events = env.fromData(
                SingleObjectTypeInfo.forRecord(SessionEvent.class),
                Events.turn("s1", "e1", "my favorite color is white.", 8),
                Events.turn("s1", "e2", "what is my favorite color?", 8));
        PipelineConfig config = TestModels.refmodel("full").build();
        List<ResponseEvent> out = InferenceJob.buildForTest(env, events, config).executeAndCollect(1000);

        Map<String, FinalResponse> finals = Responses.finals(out);
        assertThat(finals).containsOnlyKeys("e1", "e2");
        FinalResponse second = finals.get("e2");
        assertThat(second.getText().strip()).isEqualTo("white");
        assertThat(Responses.streamedText(out, "e2")).isEqualTo(second.getText());
        assertThat(second.getUsage().getCachedTokens()).isGreaterThan(0);
        assertThat(second.getUsage().getGeneratedTokens()).isGreaterThan(0);
    }
}
