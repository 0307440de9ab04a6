package io.kvstream.cli;

import io.kvstream.kv.CacheSpec;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.kvstream.eval.EvalReport;
import io.kvstream.eval.EvalResult;
import io.kvstream.eval.EvalRunner;
import io.kvstream.eval.EvalSample;
import io.kvstream.generate.Engine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.nio.file.Path;
import java.util.List;
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
                "KV cache: codec full|fp16|int8|kivi4|kivi2 (KIVI takes :group=G,vgroup=C,"
                        + "residual=fp16|int8|token,vbits=B|B0/B1/..,kmeta=fp16|q8; docs/kv-compression.md),"
                        + " then optionally +window:sink=S,recent=W,"
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
            EvalReport.print(result, System.out);
            ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            if (json != null) {
                mapper.writeValue(json.toFile(), EvalReport.summary(
                        mapper, modelOptions.modelPath().getFileName().toString(), spec.toString(), result));
            }
            if (answersFile != null) {
                EvalReport.writeAnswers(new ObjectMapper(), result, answersFile);
            }
            return result.failed() == 0 ? 0 : 1;
        }
    }
}
