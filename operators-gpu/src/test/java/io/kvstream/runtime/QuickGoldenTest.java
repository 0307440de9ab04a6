package io.kvstream.runtime;

import io.kvstream.kv.DenseKvCache;
import io.kvstream.model.Model;
import io.kvstream.model.ModelConfig;
import io.kvstream.model.ModelLoader;
import io.kvstream.runtime.cpu.CpuBackend;
import io.kvstream.testing.RefModel;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

class QuickGoldenTest {
    @Test
    void f16TextCases() throws Exception {
        Model model = ModelLoader.load(RefModel.file("refmodel-f16.gguf"));
        ModelConfig c = model.config();
        try (CpuBackend backend = new CpuBackend(model, 2)) {
            for (Golden g : Golden.read(RefModel.file("golden-f16.json"))) {
                if (g.hasFrames()) continue;
                DenseKvCache cache = new DenseKvCache(c.layers(), c.kvHeads(), c.headDim(), c.contextLength());
                SequenceStep step = new SequenceStep(cache).reset(cache);
                step.add(g.ids(), 0, g.ids().length).logitsFrom(0);
                long t0 = System.nanoTime();
                backend.forward(List.of(step));
                long t1 = System.nanoTime();
                double max = 0;
                for (Map.Entry<Integer, float[]> e : g.logitsAt().entrySet()) {
                    float[] gold = e.getValue();
                    for (int v = 0; v < gold.length; v++) {
                        max = Math.max(max, Math.abs(step.logits()[e.getKey() * c.vocabSize() + v] - gold[v]));
                    }
                }
                System.out.printf("%s len=%d maxdiff=%.2e prefill %.1f ms%n", g.task(), g.ids().length, max, (t1 - t0) / 1e6);
            }
        }
    }
}
