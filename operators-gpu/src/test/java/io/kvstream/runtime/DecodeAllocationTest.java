package io.kvstream.runtime;

import io.kvstream.generate.Engine;
import io.kvstream.kv.KvCache;
import io.kvstream.sampling.Sampler;
import io.kvstream.testing.RefModel;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A steady decode loop allocates nothing per token on the thread that drives it. */
class DecodeAllocationTest {

    @Test
    void decodeStepsDoNotAllocate() throws Exception {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (Engine engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"), null, null, 2)) {
            int vocab = engine.config().vocabSize();
            List<KvCache> caches = new ArrayList<>();
            List<SequenceStep> steps = new ArrayList<>();
            for (int s = 0; s < 4; s++) {
                KvCache cache = engine.newFullCache();
                cache.reserve(1200); // the cache's own growth is not the forward pass's
                caches.add(cache);
                steps.add(new SequenceStep(cache).add(new int[] {1, 3, 40 + s, 41, 42}, 0, 5));
            }
            engine.backend().forward(steps);
            long before = 0;
            int measured = 400;
            for (int i = 0; i < 600 + measured; i++) {
                if (i == 600) {
                    before = threads.getThreadAllocatedBytes(Thread.currentThread().getId());
                }
                for (int s = 0; s < steps.size(); s++) {
                    SequenceStep step = steps.get(s);
                    int next = Sampler.argmax(step.logits(), 0, vocab);
                    step.reset(caches.get(s)).add(next);
                }
                engine.backend().forward(steps);
            }
            long perStep = (threads.getThreadAllocatedBytes(Thread.currentThread().getId()) - before) / measured;
            System.out.printf("decode: %d bytes allocated per step of 4 sequences on the driving thread%n", perStep);
            // One vocabulary-sized array would be 8 KiB; a few stray bytes from JIT activity are tolerated.
            assertThat(perStep).isLessThan(256);
        }
    }
}
