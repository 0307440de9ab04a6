package io.kvstream.eval;

import io.kvstream.generate.Engine;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.PromptBuilder;
import io.kvstream.generate.Transcript;
import io.kvstream.testing.RefModel;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EvalSampleTest {

    /**
     * Fed event by event through the chat template, every sample gives exactly the tokens of its
     * segments fed as they are: the pipeline sees what offline eval sees.
     */
    @Test
    void stepsRenderToTheSegmentsTokens() throws Exception {
        List<EvalSample> samples = EvalSample.read(RefModel.file("eval-shared.jsonl"));
        try (Engine engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"), RefModel.file("refmodel-mmproj-f16.gguf"), null, 1)) {
            PromptBuilder builder = engine.prompts(0f);
            for (EvalSample sample : samples) {
                Prompt raw = new Prompt();
                byte[] previous = null;
                for (EvalSample.Segment s : sample.segments()) {
                    if (s.isFrame()) {
                        builder.appendFrame(raw, s.frame(), s.rgb(), previous);
                        previous = s.rgb();
                    } else {
                        builder.appendText(raw, s.text());
                    }
                }
                Prompt events = new Prompt();
                Transcript transcript = new Transcript(engine.chatTemplate());
                for (EvalSample.Step step : sample.steps()) {
                    if (step instanceof EvalSample.Frame f) {
                        builder.appendText(events, transcript.beforeFrame());
                        builder.appendFrame(events, f.index(), f.rgb(), null);
                    } else {
                        EvalSample.Message m = (EvalSample.Message) step;
                        builder.appendText(events, m.answer() ? transcript.turn(m.message()) : transcript.context(m.message()));
                    }
                }
                assertThat(events.tokens()).as("sample %d", sample.index()).containsExactly(raw.tokens());
            }
            assertThat(samples).hasSize(300);
        }
    }

    @Test
    void aReplyIsOwedItsEndOfTurnBeforeTheNextEvent() throws Exception {
        try (Engine engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"), null, null, 1)) {
            Transcript t = new Transcript(engine.chatTemplate());
            assertThat(t.turn(io.kvstream.tokenizer.ChatMessage.user("hi"))).isEqualTo("<|bos|><|user|>hi<|end|><|assistant|>");
            t.reply("ok.");
            assertThat(t.owed()).isEqualTo("<|end|>");
            assertThat(t.turn(io.kvstream.tokenizer.ChatMessage.user("bye"))).isEqualTo("<|end|><|user|>bye<|end|><|assistant|>");
            t.reply("ok.");
            assertThat(t.beforeFrame()).isEqualTo("<|end|>");
            assertThat(t.beforeFrame()).isEmpty();
        }
    }

    @Test
    void segmentsOfAnotherShapeAreRejected() {
        EvalSample odd = new EvalSample(3, "chat", List.of(EvalSample.Segment.text("<|bos|>"),
                EvalSample.Segment.text("<|user|>hi<|end|><|assistant|>"), EvalSample.Segment.text("ok.<|end|>")), "x", null);
        assertThatThrownBy(odd::steps).hasMessageContaining("sample 3").hasMessageContaining("does not end with a user turn");
        EvalSample garbage = new EvalSample(4, "chat", List.of(EvalSample.Segment.text("free text")), "x", null);
        assertThatThrownBy(garbage::steps).hasMessageContaining("segment 0");
    }

    @Test
    void gzippedSetsReadAsThePlainOnes(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        java.nio.file.Path plain = io.kvstream.testing.RefModel.file("eval-shared.jsonl");
        java.nio.file.Path gz = tmp.resolve("eval.jsonl.gz");
        try (java.io.OutputStream out = new java.util.zip.GZIPOutputStream(java.nio.file.Files.newOutputStream(gz))) {
            java.nio.file.Files.copy(plain, out);
        }
        List<EvalSample> a = EvalSample.read(plain);
        List<EvalSample> b = EvalSample.read(gz);
        assertThat(b).hasSameSizeAs(a);
        for (int i = 0; i < a.size(); i++) {
            assertThat(b.get(i).answer()).isEqualTo(a.get(i).answer());
            assertThat(b.get(i).segments()).hasSameSizeAs(a.get(i).segments());
        }
        // The long sessions ship gzipped.
        assertThat(EvalSample.read(io.kvstream.testing.RefModel.file("eval-long-shared.jsonl.gz"))).hasSize(180);
    }
}
