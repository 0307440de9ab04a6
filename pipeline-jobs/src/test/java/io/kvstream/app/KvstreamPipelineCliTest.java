package io.kvstream.app;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

/** The pipeline's subcommands are registered and check their arguments before doing anything. */
class KvstreamPipelineCliTest {

    private static String[] run(String... args) {
        CommandLine cli = new CommandLine(new Kvstream());
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int rc = cli.execute(args);
        return new String[] {String.valueOf(rc), out.toString(), err.toString()};
    }

    @Test
    void helpListsThePipelineCommands() {
        String[] r = run("--help");
        assertThat(r[0]).isEqualTo("0");
        assertThat(r[1]).contains("local", "chat", "video", "replay", "eval");
    }

    @Test
    void localHelpShowsItsModes() {
        String[] r = run("local", "--help");
        assertThat(r[1]).contains("--demo", "--replay", "--bench", "--kv", "--model", "--mmproj", "--checkpoint-dir",
                "--sessions", "--json", "--answers");
    }

    @Test
    void clientsNeedABootstrapAddress() {
        String[] r = run("chat");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("--bootstrap");
        assertThat(run("replay", "--data", "x.jsonl")[2]).contains("--bootstrap");
    }

    @Test
    void videoNeedsExactlyOneFrameSource() {
        assertThat(run("video", "-b", "localhost:1")[2]).contains("--synthetic", "--dir");
        String[] both = run("video", "-b", "localhost:1", "--synthetic", "--dir", "frames");
        assertThat(both[0]).isEqualTo("2");
        assertThat(both[2]).contains("mutually exclusive");
    }
}
