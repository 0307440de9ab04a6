package io.kvstream.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.pipeline.testing.SavepointRun;
import io.kvstream.schema.FinalResponse;

import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A fact stated in a session's first turn, then a history far longer than the window: the memory
 * tier brings the fact back when it is asked for many turns later, and again after the job was
 * stopped with a savepoint and restored; the same window without memory has lost it.
 */
class MemoryRecallTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(1)
                    .build());

    /** Sinks, a 128-token window, 4 blocks of memory: attention never covers more than 516 slots. */
    static final String WINDOW = "kivi2+window:sink=4,recent=128";
    static final String MEMORY = WINDOW + "+memory:retrieve=4";
    /** The memory part of {@code --kv long}: the question names the fact's words, which memory alone holds. */
    static final String FOCUS = WINDOW + "+memory:retrieve=4,match=focus,span=40,after=8";
    static final String FACT = "94842";

    private static final String[] CHATTER = {
        "bumefa cusu te nirisu zofi ma.", "ge vepa lura tato.", "fegesa tekove ca sace.",
        "do mu faro vesedo tane ra sofe na vugunu.", "mudafa toni vatu midepa kobi.",
        "zo larofo re muneda rocode.", "suta dokito hesoto defo zora rone dolahe.",
        "dazi sahani licaro hoko ka rufozo zacu zufufu.",
    };

    /** The fact, then about 1,400 tokens of chatter (eleven windows), then the question. */
    static String[] first() {
        List<String> events = new ArrayList<>();
        events.add("s|fact|t|my lucky number is " + FACT + ".|8");
        chatter(events, "a", 150);
        events.add("s|ask1|t|what is my lucky number?|8");
        return events.toArray(new String[0]);
    }

    /** After the restore: the question first, from stored state alone; then more chatter and again. */
    static String[] second() {
        List<String> events = new ArrayList<>();
        events.add("s|ask2|t|what is my lucky number?|8");
        chatter(events, "b", 20);
        events.add("s|ask3|t|what is my lucky number?|8");
        return events.toArray(new String[0]);
    }

    private static void chatter(List<String> events, String prefix, int messages) {
        for (int i = 0; i < messages; i++) {
            events.add("s|" + prefix + i + "|c|" + CHATTER[i % CHATTER.length] + "|0");
        }
    }

    @ParameterizedTest(name = "kv={0}")
    @ValueSource(strings = {MEMORY, FOCUS, WINDOW})
    void aFactFromTheFirstTurnIsRecalledLongAfterItLeftTheWindowAndAfterARestore(String kv, @TempDir Path dir)
            throws Exception {
        PipelineConfig config = TestModels.refmodel(kv).build();
        SavepointRun.Result run = SavepointRun.run(config, first(), 2, second(), 2, dir, true);
        Map<String, FinalResponse> answers = Responses.finals(run.responses());
        String before = answers.get("ask1").getText().strip();
        String restored = answers.get("ask2").getText().strip();
        String later = answers.get("ask3").getText().strip();
        System.out.printf("kv=%s: before the savepoint '%s', right after the restore '%s', 20 messages later '%s';"
                + " savepoint %,d bytes%n", kv, before, restored, later, run.savepointBytes());
        // The restored job answered from the stored session (its blocks and memory), not by
        // recomputing it from the token history, which reports no cached tokens.
        assertThat(answers.get("ask2").getUsage().getCachedTokens()).isGreaterThan(1000);
        if (!kv.equals(WINDOW)) {
            assertThat(List.of(before, restored, later)).containsOnly(FACT);
        } else {
            assertThat(List.of(before, restored, later)).doesNotContain(FACT);
        }
    }
}
