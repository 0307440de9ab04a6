package io.kvstream.client;

import io.kvstream.eval.EvalSample;
import io.kvstream.generate.Engine;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.PromptBuilder;
import io.kvstream.schema.ContextMessage;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.VideoFrame;
import io.kvstream.schema.VideoQuery;
import io.kvstream.testing.RefModel;
import io.kvstream.tokenizer.ChatMessage;
import io.kvstream.tokenizer.ChatTemplate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The events a replay sends for a sample, rendered as a session renders them (chat template for
 * messages, marker plus patches for frames), must be token for token what offline eval feeds.
 */
class EvalEventsTest {

    private static Engine engine;

    @BeforeAll
    static void open() throws Exception {
        engine = Engine.open(RefModel.file("refmodel-q8_0.gguf"), RefModel.file("refmodel-mmproj-f16.gguf"), null, 1);
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    @Test
    void everySampleRendersToTheIdsOfflineEvalFeeds() throws Exception {
        List<EvalSample> samples = EvalSample.read(RefModel.file("eval-shared.jsonl"));
        assertThat(samples).hasSize(300);
        PromptBuilder builder = engine.prompts(0f);
        int videoQueries = 0;
        for (EvalSample sample : samples) {
            Prompt offline = new Prompt();
            byte[] previous = null;
            for (EvalSample.Segment s : sample.segments()) {
                if (s.isFrame()) {
                    builder.appendFrame(offline, s.frame(), s.rgb(), previous);
                    previous = s.rgb();
                } else {
                    builder.appendText(offline, s.text());
                }
            }
            List<Object> events = EvalEvents.payloads(sample, 12, 1000);
            Prompt replayed = render(engine.chatTemplate(), builder, events);
            assertThat(replayed.tokens()).as("sample %d", sample.index()).containsExactly(offline.tokens());
            for (int i = 0; i < offline.length(); i++) {
                assertThat(replayed.isEmbedded(i)).as("sample %d position %d", sample.index(), i)
                        .isEqualTo(offline.isEmbedded(i));
            }
            Object request = events.get(events.size() - 1);
            if (sample.task().equals("video")) {
                assertThat(request).isInstanceOf(VideoQuery.class);
                assertThat(((VideoQuery) request).getMaxNewTokens()).isEqualTo(12);
                videoQueries++;
            } else {
                assertThat(request).isInstanceOf(UserTurn.class);
                assertThat(((UserTurn) request).getSampling().getTemperature()).isZero();
            }
        }
        assertThat(videoQueries).isEqualTo(100);
    }

    /**
     * A session as the inference operator builds it: the template's rendering of no messages (BOS)
     * when the session starts, each message as what it adds to the rendering of the messages held,
     * the request with the generation prompt, frames as marker and patches in between.
     */
    static Prompt render(ChatTemplate template, PromptBuilder builder, List<Object> events) {
        Prompt prompt = new Prompt();
        List<ChatMessage> held = new ArrayList<>();
        String heldText = template.render(held, false);
        builder.appendText(prompt, heldText);
        byte[] previous = null;
        for (Object e : events) {
            if (e instanceof VideoFrame f) {
                byte[] rgb = bytes(f.getRgb());
                builder.appendFrame(prompt, f.getIndex(), rgb, previous);
                previous = rgb;
                continue;
            }
            boolean request = !(e instanceof ContextMessage);
            ChatMessage m = e instanceof ContextMessage c ? new ChatMessage(c.getRole(), c.getText())
                    : ChatMessage.user(e instanceof UserTurn u ? u.getText() : ((VideoQuery) e).getText());
            held.add(m);
            String all = template.render(held, request);
            assertThat(all).startsWith(heldText);
            builder.appendText(prompt, all.substring(heldText.length()));
            heldText = template.render(held, false);
        }
        return prompt;
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    @Test
    void framesKeepTheirIndexAndPixels() throws Exception {
        EvalSample sample = EvalSample.read(RefModel.file("eval-shared.jsonl")).get(200);
        List<Object> events = EvalEvents.payloads(sample, 12, 500);
        VideoFrame second = (VideoFrame) events.get(1);
        assertThat(second.getIndex()).isEqualTo(1);
        assertThat(second.getTimestampMs()).isEqualTo(500);
        assertThat(second.getWidth()).isEqualTo(16);
        assertThat(second.getHeight()).isEqualTo(16);
        assertThat(bytes(second.getRgb())).isEqualTo(sample.segments().get(2).rgb());
    }

    @Test
    void historyBecomesContextMessages() throws Exception {
        EvalSample sample = EvalSample.read(RefModel.file("eval-shared.jsonl")).get(1);
        List<Object> events = EvalEvents.payloads(sample, 12, 1000);
        assertThat(events.get(0)).isEqualTo(new ContextMessage("user", "repeat after me: kopefu medela siha"));
        assertThat(events.get(1)).isEqualTo(new ContextMessage("assistant", "kopefu medela siha"));
        assertThat(events.get(2)).isEqualTo(new ContextMessage("user", "my lucky number is 21030."));
        assertThat(events.get(3)).isEqualTo(new ContextMessage("assistant", "noted."));
        assertThat(((UserTurn) events.get(events.size() - 1)).getText()).isEqualTo("what is my lucky number?");
    }

    @Test
    void segmentsOutsideTheChatFormatAreRejected() {
        EvalSample noBos = sample(EvalSample.Segment.text("<|user|>hi<|end|><|assistant|>"));
        assertThatThrownBy(() -> EvalEvents.payloads(noBos, 12, 1000)).hasMessageContaining("<|bos|>");
        EvalSample endsWithReply = sample(EvalSample.Segment.text("<|bos|>"),
                EvalSample.Segment.text("<|user|>hi<|end|><|assistant|>"), EvalSample.Segment.text("ok.<|end|>"));
        assertThatThrownBy(() -> EvalEvents.payloads(endsWithReply, 12, 1000)).hasMessageContaining("segment 2");
        EvalSample twoReplies = sample(EvalSample.Segment.text("<|bos|>"),
                EvalSample.Segment.text("<|user|>hi<|end|><|assistant|>"), EvalSample.Segment.text("ok.<|end|>"),
                EvalSample.Segment.text("ok.<|end|>"), EvalSample.Segment.text("<|user|>hi<|end|><|assistant|>"));
        assertThatThrownBy(() -> EvalEvents.payloads(twoReplies, 12, 1000)).hasMessageContaining("segment 3");
        EvalSample rawText = sample(EvalSample.Segment.text("<|bos|>"), EvalSample.Segment.text("hello"),
                EvalSample.Segment.text("<|user|>hi<|end|><|assistant|>"));
        assertThatThrownBy(() -> EvalEvents.payloads(rawText, 12, 1000)).hasMessageContaining("segment 1");
        EvalSample oddFrame = sample(EvalSample.Segment.text("<|bos|>"), EvalSample.Segment.frame(0, new byte[10]),
                EvalSample.Segment.text("<|user|>hi<|end|><|assistant|>"));
        assertThatThrownBy(() -> EvalEvents.payloads(oddFrame, 12, 1000)).hasMessageContaining("10 bytes");
    }

    private static EvalSample sample(EvalSample.Segment... segments) {
        return new EvalSample(7, "chat", List.of(segments), "x", null);
    }
}
