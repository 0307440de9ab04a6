package io.kvstream.pipeline;

import io.kvstream.pipeline.testing.SavepointRun;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.pipeline.operator.OperatorHarnessRun;
import io.kvstream.schema.FinalResponse;

import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Map;

/**
 * Sessions whose KV caches live in RocksDB state: the job is stopped with a savepoint after the
 * first turns, a fresh job restores from it and continues the sessions; they answer as sessions
 * that never left memory. Prints the sizes of the incremental checkpoints and of the savepoint.
 */
class RocksDbRestoreTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(1)
                    .build());

    private static final String FILLER = filler();

    /** session|event id|kind|text|max new tokens; kind c: context message, t: user turn. */
    private static final String[] FIRST = {
        "a|a0|c|" + FILLER + "|0",
        "a|a1|t|my favorite color is white.|8",
        "b|b0|c|" + FILLER + "|0",
        "b|b1|t|my lucky number is 94842.|8",
    };

    private static final String[] SECOND = {
        "a|a2|t|what is my favorite color?|8",
        "b|b2|t|what is my lucky number?|8",
    };

    @ParameterizedTest(name = "kv={0}, options factory={1}")
    @CsvSource({"kivi2, true", "full, true", "kivi2, false", "full, false"})
    void sessionsContinueFromASavepointOfRocksDbState(String kv, boolean optionsFactory, @TempDir Path dir)
            throws Exception {
        PipelineConfig config = TestModels.refmodel(kv).build();
        SavepointRun.Result run = SavepointRun.run(config, FIRST, 2, SECOND, 2, dir, optionsFactory);

        System.out.printf(
                "RocksDB state, kv=%s, KvRocksDbOptionsFactory=%s: checkpoint dir %,d bytes, native savepoint %,d bytes%n",
                kv, optionsFactory, run.checkpointBytes(), run.savepointBytes());

        Map<String, FinalResponse> expected = Responses.finals(
                OperatorHarnessRun.run(config, SavepointRun.events(FIRST), SavepointRun.events(SECOND)));
        Map<String, FinalResponse> actual = Responses.finals(run.responses());
        assertThat(actual.keySet()).containsExactlyInAnyOrder("a1", "b1", "a2", "b2");
        for (String id : expected.keySet()) {
            assertThat(actual.get(id).getText()).as(id).isEqualTo(expected.get(id).getText());
        }
        assertThat(actual.get("a2").getText()).isEqualTo("white");
        // The restored job served the sessions from their stored blocks, not by prefilling again.
        assertThat(actual.get("a2").getUsage().getCachedTokens()).isGreaterThan(100);
        assertThat(actual.get("b2").getUsage().getCachedTokens()).isGreaterThan(100);
    }

    private static String filler() {
        StringBuilder sb = new StringBuilder();
        String[] words = {"guni", "rocode", "vo", "te", "nabo", "kohare", "lorola", "kaha", "suco"};
        for (int i = 0; i < 120; i++) {
            sb.append(words[i % words.length]).append(i % 10 == 9 ? ". " : " ");
        }
        return sb.toString().strip();
    }
}
