package io.kvstream.client;

import io.kvstream.eval.EvalResult;
import io.kvstream.eval.EvalRunner;
import io.kvstream.eval.EvalSample;
import io.kvstream.generate.Engine;
import io.kvstream.testing.RefModel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The synthetic video is what the reference model was trained on, and it names what was shown. */
class SyntheticVideoTest {

    @Test
    void glyphsAreTheTrainingOnes() throws Exception {
        // Eval sample 200 shows glyph 4 ("purple") in patch 5 of its first frame, under light noise.
        EvalSample sample = EvalSample.read(RefModel.file("eval-shared.jsonl")).get(200);
        byte[] frame = sample.segments().get(1).rgb();
        assertThat(sample.answer()).isEqualTo("purple");
        assertThat(meanDifference(frame, 5, 4)).isLessThan(5);
        assertThat(meanDifference(frame, 5, 3)).isGreaterThan(30);
    }

    @Test
    void theModelNamesTheGlyphsOfASyntheticVideo() throws Exception {
        SyntheticVideo video = new SyntheticVideo(3);
        List<EvalSample.Segment> segments = new ArrayList<>();
        segments.add(EvalSample.Segment.text("<|bos|>"));
        for (int t = 0; t < 10; t++) {
            segments.add(EvalSample.Segment.frame(t, video.next()));
        }
        List<EvalSample> samples = new ArrayList<>();
        for (int t : new int[] {0, 3, 6, 9}) {
            List<EvalSample.Segment> s = new ArrayList<>(segments);
            s.add(EvalSample.Segment.text("<|user|>what was shown at t=" + t + "?<|end|><|assistant|>"));
            samples.add(new EvalSample(t, "video", s, video.shown(t), null));
        }
        assertThat(samples.stream().map(EvalSample::answer).distinct().count()).isGreaterThan(1);
        try (Engine engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"),
                RefModel.file("refmodel-mmproj-f16.gguf"), null, 2)) {
            EvalResult result = new EvalRunner(engine, engine::newFullCache, 0f, 4, null).run(samples);
            assertThat(result.answers()).allSatisfy(a -> assertThat(a.output().strip()).isEqualTo(a.sample().answer()));
        }
    }

    private static double meanDifference(byte[] frame, int patch, int glyph) {
        int y0 = (patch / 4) * 4;
        int x0 = (patch % 4) * 4;
        double sum = 0;
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                for (int c = 0; c < 3; c++) {
                    int a = frame[((y0 + y) * 16 + x0 + x) * 3 + c] & 0xFF;
                    int b = SyntheticVideo.GLYPHS[glyph * 48 + (y * 4 + x) * 3 + c] & 0xFF;
                    sum += Math.abs(a - b);
                }
            }
        }
        return sum / 48;
    }
}
