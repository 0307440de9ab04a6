package io.kvstream.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvstream.testing.RefModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The command line as a user runs it, on the reference model. */
class KvstreamCliTest {

    private static int run(String... args) {
        return new CommandLine(new Kvstream()).execute(args);
    }

    @Test
    void evalWritesTheSummaryAndOneLinePerSample(@TempDir Path tmp) throws Exception {
        Path json = tmp.resolve("eval.json");
        Path answers = tmp.resolve("answers.jsonl");
        int rc = run("eval", "--model", RefModel.file("refmodel-q8_0.gguf").toString(),
                "--mmproj", RefModel.file("refmodel-mmproj-f16.gguf").toString(),
                "--data", RefModel.file("eval-shared.jsonl").toString(), "--limit", "6",
                "--json", json.toString(), "--answers", answers.toString());
        assertThat(rc).isZero();
        JsonNode summary = new ObjectMapper().readTree(json.toFile());
        assertThat(summary.get("model").asText()).isEqualTo("refmodel-q8_0.gguf");
        assertThat(summary.get("kv").asText()).isEqualTo("full");
        assertThat(summary.get("samples").asInt()).isEqualTo(6);
        assertThat(summary.get("accuracy").get("chat").asDouble()).isBetween(0.5, 1.0);
        assertThat(summary.get("kv_bytes_per_token").asDouble()).isGreaterThan(0);
        List<String> lines = Files.readAllLines(answers);
        assertThat(lines).hasSize(6);
        JsonNode first = new ObjectMapper().readTree(lines.get(0));
        assertThat(first.get("index").asInt()).isZero();
        assertThat(first.get("output").asText()).isEqualTo(first.get("answer").asText());
    }

    @Test
    void generateStreamsTheGreedyReply() throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = run("generate", "--model", RefModel.file("refmodel-q8_0.gguf").toString(),
                    "--prompt", "my favorite color is teal.", "--max-new", "8");
        } finally {
            System.setOut(old);
        }
        assertThat(rc).isZero();
        // The reference model acknowledges a stated fact with "noted."
        assertThat(out.toString(StandardCharsets.UTF_8).strip()).isEqualTo("noted.");
    }

    @Test
    void aMissingModelIsOneClearLineNotAStackTrace(@TempDir Path tmp) {
        CommandLine cli = new CommandLine(new Kvstream());
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        cli.setErr(new java.io.PrintWriter(err, true));
        cli.setExecutionExceptionHandler((e, c, p) -> {
            c.getErr().println(c.getCommandName() + ": " + e.getMessage());
            return 1;
        });
        int rc = cli.execute("generate", "--model", tmp.resolve("nope.gguf").toString(), "--prompt", "hi");
        assertThat(rc).isEqualTo(1);
        assertThat(err.toString()).contains("nope.gguf").doesNotContain("\tat ");
    }
}
