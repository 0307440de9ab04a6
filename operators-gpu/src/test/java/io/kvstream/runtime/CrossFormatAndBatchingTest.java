package io.kvstream.runtime;

import io.kvstream.generate.Engine;
import io.kvstream.generate.Prompt;
import io.kvstream.kv.KvCache;
import io.kvstream.testing.RefModel;
import io.kvstream.tokenizer.TokenizerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The same model from two files agrees; a sequence's logits do not depend on its batch. */
class CrossFormatAndBatchingTest {

    private static Engine gguf;
    private static Engine safetensors;

    @BeforeAll
    static void open() throws Exception {
        int threads = Runtime.getRuntime().availableProcessors();
        gguf = Engine.open(RefModel.file("refmodel-f16.gguf"), RefModel.file("refmodel-mmproj-f16.gguf"), null, threads);
        safetensors = Engine.open(RefModel.file("refmodel.safetensors"), null, null, threads);
    }

    @AfterAll
    static void close() {
        if (gguf != null) {
            gguf.close();
        }
        if (safetensors != null) {
            safetensors.close();
        }
    }

    @Test
    void ggufAndSafetensorsGiveTheSameLogits() throws Exception {
        int vocab = gguf.config().vocabSize();
        double worst = 0;
        for (Golden g : Golden.read(RefModel.file("golden-f16.json"))) {
            float[] a = GoldenRun.allLogits(gguf, GoldenRun.prompt(gguf, g));
            float[] b = GoldenRun.allLogits(safetensors, GoldenRun.prompt(safetensors, g));
            double max = 0;
            for (int i = 0; i < g.ids().length * vocab; i++) {
                max = Math.max(max, Math.abs(a[i] - b[i]));
            }
            System.out.printf("gguf vs safetensors %s len=%d: max |dlogit| over all positions %.2e%n", g.task(), g.ids().length, max);
            worst = Math.max(worst, max);
        }
        assertThat(worst).isLessThanOrEqualTo(1e-4);
    }

    @Test
    void tokenizerFromGgufEqualsTokenizerJson() throws Exception {
        var fromJson = TokenizerJson.read(RefModel.file("tokenizer.json"), RefModel.file("tokenizer_config.json"));
        var fromGguf = gguf.model().tokenizer();
        assertThat(fromGguf.tokens()).isEqualTo(fromJson.tokens());
        assertThat(fromGguf.merges()).isEqualTo(fromJson.merges());
        assertThat(fromGguf.tokenTypes()).isEqualTo(fromJson.tokenTypes());
        assertThat(fromGguf.bosId()).isEqualTo(fromJson.bosId());
        assertThat(fromGguf.eosId()).isEqualTo(fromJson.eosId());
        assertThat(fromGguf.chatTemplate()).isEqualTo(fromJson.chatTemplate());
    }

    /**
     * Each golden case alone, then all of them in one batch mixed with decode steps of another
     * sequence and split into uneven prefill chunks: every logit row must stay put.
     */
    @Test
    void batchedEqualsUnbatched() throws Exception {
        List<Golden> cases = Golden.read(RefModel.file("golden-f16.json"));
        int vocab = gguf.config().vocabSize();
        List<float[]> alone = new ArrayList<>();
        List<Prompt> prompts = new ArrayList<>();
        for (Golden g : cases) {
            Prompt p = GoldenRun.prompt(gguf, g);
            prompts.add(p);
            alone.add(GoldenRun.allLogits(gguf, p));
        }
        // A running decode sequence shares every step.
        KvCache other = gguf.newFullCache();
        SequenceStep otherStep = new SequenceStep(other);
        otherStep.add(new int[] {1, 3, 40, 41, 42}, 0, 5);
        gguf.backend().forward(List.of(otherStep));

        List<KvCache> caches = new ArrayList<>();
        List<float[]> together = new ArrayList<>();
        int[] fed = new int[cases.size()];
        for (int i = 0; i < cases.size(); i++) {
            caches.add(gguf.newFullCache());
            together.add(new float[prompts.get(i).length() * vocab]);
        }
        Random random = new Random(7);
        boolean pending = true;
        while (pending) {
            pending = false;
            List<SequenceStep> batch = new ArrayList<>();
            List<Integer> who = new ArrayList<>();
            for (int i = 0; i < cases.size(); i++) {
                int left = prompts.get(i).length() - fed[i];
                if (left == 0) {
                    continue;
                }
                int n = Math.min(left, 1 + random.nextInt(300));
                SequenceStep step = new SequenceStep(caches.get(i));
                prompts.get(i).feed(step, fed[i], n);
                step.logitsFrom(0);
                batch.add(step);
                who.add(i);
            }
            SequenceStep decode = new SequenceStep(other).add(44 + random.nextInt(100));
            batch.add(decode);
            gguf.backend().forward(batch);
            for (int b = 0; b < who.size(); b++) {
                int i = who.get(b);
                SequenceStep step = batch.get(b);
                System.arraycopy(step.logits(), 0, together.get(i), fed[i] * vocab, step.count() * vocab);
                fed[i] += step.count();
                pending |= fed[i] < prompts.get(i).length();
            }
        }
        double max = 0;
        for (int i = 0; i < cases.size(); i++) {
            float[] a = alone.get(i);
            float[] b = together.get(i);
            for (int j = 0; j < a.length; j++) {
                max = Math.max(max, Math.abs(a[j] - b[j]));
            }
        }
        System.out.printf("batched vs unbatched: max |dlogit| %.2e over %d sequences%n", max, cases.size());
        assertThat(max).isLessThanOrEqualTo(1e-4);
    }
}
