package io.kvstream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvstream.eval.EvalResult;
import io.kvstream.eval.EvalRunner;
import io.kvstream.eval.EvalSample;
import io.kvstream.generate.Engine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.io.BufferedWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code kvstream eval}: accuracy of the engine on an eval set, offline. */
@Command(
        name = "eval",
        mixinStandardHelpOptions = true,
        description = "Run an eval set (JSONL of segments and answers) with greedy decoding and print accuracy per task.")
public final class EvalCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(names = "--data", required = true, paramLabel = "EVAL.jsonl", description = "samples to run")
    Path data;

    @Option(names = "--limit", paramLabel = "N", description = "run only the first N samples")
    int limit = Integer.MAX_VALUE;

    @Option(
            names = "--kv",
            paramLabel = "SPEC",
            description = {
                "KV cache: codec full|fp16|int8|kivi4|kivi2, then optionally +window:sink=S,recent=W,"
                        + " +h2o:budget=N|F, +snapkv:budget=N|F,window=32, and +dtd:threshold=T to drop"
                        + " video patches that changed less than T since the previous frame"
                        + " (default: ${DEFAULT-VALUE})"
            })
    String kv = "full";

    @Option(names = "--concurrency", paramLabel = "N", description = "samples batched together (default: ${DEFAULT-VALUE})")
    int concurrency = 16;

    @Option(names = "--json", paramLabel = "OUT.json", description = "write the summary here")
    @Nullable
    Path json;

    @Option(names = "--answers", paramLabel = "OUT.jsonl", description = "write one line per sample here")
    @Nullable
    Path answersFile;

    @Override
    public Integer call() throws Exception {
        CacheSpec spec = CacheSpec.parse(kv);
        List<EvalSample> samples = EvalSample.read(data);
        if (samples.size() > limit) {
            samples = samples.subList(0, limit);
        }
        try (Engine engine = modelOptions.open()) {
            System.err.printf(
                    "eval: %d samples of %s on %s (%d threads, kv %s)%n",
                    samples.size(), data, modelOptions.modelPath(), modelOptions.threads, kv);
            EvalRunner runner = new EvalRunner(
                    engine, () -> engine.newCache(spec.kv()), spec.dropThreshold(), concurrency, System.err);
            EvalResult result = runner.run(samples);
            print(result);
            ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            if (json != null) {
                mapper.writeValue(json.toFile(), summary(mapper, result));
            }
            if (answersFile != null) {
                writeAnswers(new ObjectMapper(), result);
            }
            return result.failed() == 0 ? 0 : 1;
        }
    }

    private void print(EvalResult result) {
        for (Map.Entry<String, Double> e : result.accuracy().entrySet()) {
            System.out.printf("%-8s accuracy %.3f%n", e.getKey(), e.getValue());
        }
        int withReference = 0;
        for (EvalResult.Answer a : result.answers()) {
            withReference += a.sample().referenceAnswer() != null ? 1 : 0;
        }
        if (withReference > 0) {
            System.out.printf("agreement with reference_answer: %d/%d%n", result.agreeingWithReference(), withReference);
        }
        if (result.patches() > 0) {
            System.out.printf("video patches dropped: %d/%d (%.1f%%)%n", result.patchesDropped(), result.patches(),
                    100.0 * result.patchesDropped() / result.patches());
        }
        System.out.printf("kv bytes/token %.1f, %d prompt tokens, %.1f s (%.0f prompt tokens/s)%n",
                result.kvBytesPerToken(), result.promptTokens(), result.seconds(), result.promptTokens() / result.seconds());
        if (result.failed() > 0) {
            System.out.printf("%d samples failed (see the log)%n", result.failed());
        }
    }

    private ObjectNode summary(ObjectMapper mapper, EvalResult result) throws Exception {
        ObjectNode root = mapper.createObjectNode();
        root.put("model", modelOptions.modelPath().getFileName().toString());
        root.put("kv", CacheSpec.parse(kv).toString());
        root.put("samples", result.answers().size());
        ObjectNode acc = root.putObject("accuracy");
        result.accuracy().forEach(acc::put);
        root.put("agree_reference", result.agreeingWithReference());
        root.put("kv_bytes_per_token", result.kvBytesPerToken());
        root.put("prompt_tokens", result.promptTokens());
        if (result.patches() > 0) {
            root.put("patches", result.patches());
            root.put("patches_dropped", result.patchesDropped());
        }
        root.put("seconds", result.seconds());
        return root;
    }

    private void writeAnswers(ObjectMapper mapper, EvalResult result) throws Exception {
        try (BufferedWriter out = Files.newBufferedWriter(answersFile)) {
            for (EvalResult.Answer a : result.answers()) {
                ObjectNode line = mapper.createObjectNode();
                line.put("index", a.sample().index());
                line.put("task", a.sample().task());
                line.put("answer", a.sample().answer());
                line.put("output", a.output() == null ? null : a.output().strip());
                if (a.error() != null) {
                    line.put("error", a.error());
                }
                out.write(mapper.writeValueAsString(line));
                out.newLine();
            }
        }
    }
}
