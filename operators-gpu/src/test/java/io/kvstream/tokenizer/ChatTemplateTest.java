package io.kvstream.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ChatTemplateTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Pattern USER_TURN =
            Pattern.compile("<\\|user\\|>(.*)<\\|end\\|><\\|assistant\\|>", Pattern.DOTALL);
    private static final Pattern ASSISTANT_TURN = Pattern.compile("(.*)<\\|end\\|>", Pattern.DOTALL);

    /** A chat sample's segments: BOS, then user turns (ending in the generation prompt) and replies. */
    private record Sample(List<String> segments, List<ChatMessage> messages) {
        String text() {
            return String.join("", segments);
        }
    }

    @Test
    void rendersEveryEvalChatSampleExactly() throws Exception {
        ChatTemplate template = ChatTemplate.of(RefModelFiles.tokenizerData());
        List<Sample> samples = chatSamples();
        assertThat(samples).hasSize(100);
        for (Sample s : samples) {
            assertThat(template.render(s.messages(), true)).isEqualTo(s.text());
        }
    }

    @Test
    void incrementalRenderOfOneMoreTurnIsTheSuffix() throws Exception {
        ChatTemplate template = ChatTemplate.of(RefModelFiles.tokenizerData());
        for (Sample s : chatSamples()) {
            List<ChatMessage> m = s.messages();
            assertThat(m.size()).isGreaterThanOrEqualTo(3);
            // The session holds everything up to the last reply; the last question is new.
            List<ChatMessage> held = m.subList(0, m.size() - 1);
            List<ChatMessage> added = m.subList(m.size() - 1, m.size());
            String appended = template.renderAppended(held, added, true);
            assertThat(appended).isEqualTo(s.segments().get(s.segments().size() - 1));
            assertThat(s.text()).endsWith(appended);
            assertThat(template.render(held, false) + appended).isEqualTo(s.text());
        }
        // Nothing held: the session starts with the BOS, and the first turn appends the rest.
        List<ChatMessage> first = List.of(ChatMessage.user("hi"));
        assertThat(template.start()).isEqualTo("<|bos|>");
        assertThat(template.renderAppended(List.of(), first, true))
                .isEqualTo("<|user|>hi<|end|><|assistant|>");
    }

    @Test
    void renderedGoldenChatPromptsEncodeToHuggingFaceIds() throws Exception {
        TokenizerData data = RefModelFiles.tokenizerData();
        BpeTokenizer tokenizer = new BpeTokenizer(data);
        ChatTemplate template = ChatTemplate.of(data);
        JsonNode cases =
                MAPPER.readTree(RefModelFiles.dir().resolve("golden-f16.json").toFile()).get("cases");
        int checked = 0;
        for (JsonNode c : cases) {
            if (!c.get("task").asText().equals("chat")) {
                continue;
            }
            List<String> segments = new ArrayList<>();
            c.get("segments").forEach(seg -> segments.add(seg.get("text").asText()));
            String rendered = template.render(toMessages(segments), true);
            assertThat(rendered).isEqualTo(String.join("", segments));
            assertThat(tokenizer.encode(rendered)).containsExactly(ints(c.get("ids")));

            int[] greedy = ints(c.get("greedy_ids"));
            assertThat(tokenizer.decode(greedy)).isEqualTo(c.get("greedy_text").asText());
            BpeTokenizer.StreamingDecoder decoder = tokenizer.newStreamingDecoder();
            StringBuilder streamed = new StringBuilder();
            for (int id : greedy) {
                streamed.append(decoder.feed(id));
            }
            streamed.append(decoder.flush());
            assertThat(streamed.toString()).isEqualTo(c.get("greedy_text").asText());
            checked++;
        }
        assertThat(checked).isEqualTo(2);
    }

    @Test
    void commonHuggingFaceTemplateFeaturesWork() {
        String source =
                "{%- if messages[0]['role'] == 'system' %}\n"
                        + "    {%- set system = messages[0]['content'] %}\n"
                        + "    {%- set loop_messages = messages[1:] %}\n"
                        + "{%- else %}\n"
                        + "    {%- set system = 'default' %}\n"
                        + "    {%- set loop_messages = messages %}\n"
                        + "{%- endif %}\n"
                        + "{{- bos_token }}[{{ system | trim }}]\n"
                        + "{% for message in loop_messages %}\n"
                        + "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
                        + "        {{- raise_exception('roles must alternate user/assistant') }}\n"
                        + "    {%- endif %}\n"
                        + "    {{- loop.index }}:{{ message.role }}={{ message['content'] }}"
                        + "{% if loop.last %}.{% else %},{% endif %}\n"
                        + "{% endfor %}\n"
                        + "{%- if tools is defined and tools %}TOOLS{% endif %}\n"
                        + "{%- if add_generation_prompt %}>{{ eos_token | length }}{% endif %}";
        ChatTemplate template = new ChatTemplate(source, "<s>", "</s>");
        // Expected text is what transformers' Jinja2 environment renders.
        List<ChatMessage> messages =
                List.of(
                        ChatMessage.system("  be brief "),
                        ChatMessage.user("a"),
                        ChatMessage.assistant("b"),
                        ChatMessage.user("c"));
        assertThat(template.render(messages, true))
                .isEqualTo("<s>[be brief]\n1:user=a,2:assistant=b,3:user=c.>4");
        assertThat(template.render(messages.subList(1, 2), false)).isEqualTo("<s>[default]\n1:user=a.");

        List<ChatMessage> twoUsers = List.of(ChatMessage.user("a"), ChatMessage.user("b"));
        assertThatThrownBy(() -> template.render(twoUsers, true))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessage("Chat template raised: roles must alternate user/assistant");
    }

    @Test
    void strftimeNowFormatsLikePython() {
        ZonedDateTime t = ZonedDateTime.of(2024, 7, 5, 14, 3, 9, 0, ZoneOffset.UTC);
        assertThat(ChatTemplate.Functions.strftime(t, "%d %B %Y, %a %I:%M:%S %p %%"))
                .isEqualTo("05 July 2024, Fri 02:03:09 PM %");
        String today = new ChatTemplate("{{ strftime_now('%Y') }}", null, null).render(List.of(), false);
        assertThat(today).isEqualTo(String.valueOf(ZonedDateTime.now().getYear()));
    }

    @Test
    void templateThatRewritesHistoryIsReportedAsNotAppendOnly() {
        // Puts the number of messages in the header, so every turn changes the start.
        ChatTemplate template =
                new ChatTemplate(
                        "n={{ messages | length }};{% for m in messages %}{{ m.content }};{% endfor %}",
                        null,
                        null);
        List<ChatMessage> held = List.of(ChatMessage.user("a"), ChatMessage.assistant("b"));
        assertThatThrownBy(() -> template.renderAppended(held, List.of(ChatMessage.user("c")), true))
                .isInstanceOfSatisfying(
                        ChatTemplate.NotAppendOnlyException.class,
                        e -> assertThat(e.commonPrefixLength()).isEqualTo(2))
                .hasMessageContaining("not append-only")
                .hasMessageContaining("at character 2");
    }

    @Test
    void malformedTemplatesFailWhenBuilt() {
        assertThatThrownBy(() -> new ChatTemplate("{% for m in messages %}{{ m.content }}", null, null))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("does not parse")
                .hasMessageContaining("endfor");
        assertThatThrownBy(() -> new ChatTemplate("{% frobnicate %}", null, null))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("Unknown tag: frobnicate");
        // Expressions are only parsed when evaluated: the probe render at build time finds them.
        assertThatThrownBy(() -> new ChatTemplate("{{ bos_token }}{{ 1 + }}", null, null))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("Error parsing '1 +'");
        // Jinjava alone would render these as empty text / false without any error.
        assertThatThrownBy(
                        () ->
                                new ChatTemplate(
                                        "{{ '<|a|b>' }}{{ messages[0].content | shout }}", null, null))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessage("Chat template uses unknown filter 'shout'");
        assertThatThrownBy(() -> new ChatTemplate("{% if x is loud %}y{% endif %}", null, null))
                .hasMessage("Chat template uses unknown test 'loud'");
    }

    @Test
    void errorsWhileRenderingThrowInsteadOfRenderingPartialText() {
        // Only a system message reaches the broken branch, so the probe render at build misses it.
        ChatTemplate template =
                new ChatTemplate(
                        "a{% if messages[0].role == 'system' %}{{ messages[0].content.startswith('x') }}"
                                + "{% endif %}b",
                        null,
                        null);
        assertThat(template.render(List.of(ChatMessage.user("xy")), false)).isEqualTo("ab");
        assertThatThrownBy(() -> template.render(List.of(ChatMessage.system("xy")), false))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("startswith");
    }

    private static List<Sample> chatSamples() throws Exception {
        List<Sample> samples = new ArrayList<>();
        try (BufferedReader reader =
                Files.newBufferedReader(
                        RefModelFiles.dir().resolve("eval-shared.jsonl"), StandardCharsets.UTF_8)) {
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                JsonNode sample = MAPPER.readTree(line);
                if (!sample.get("task").asText().equals("chat")) {
                    continue;
                }
                List<String> segments = new ArrayList<>();
                sample.get("segments").forEach(seg -> segments.add(seg.get("text").asText()));
                samples.add(new Sample(segments, toMessages(segments)));
            }
        }
        return samples;
    }

    private static List<ChatMessage> toMessages(List<String> segments) {
        assertThat(segments.get(0)).isEqualTo("<|bos|>");
        List<ChatMessage> messages = new ArrayList<>();
        for (int i = 1; i < segments.size(); i++) {
            boolean user = i % 2 == 1;
            Matcher m = (user ? USER_TURN : ASSISTANT_TURN).matcher(segments.get(i));
            assertThat(m.matches()).as("segment %d: %s", i, segments.get(i)).isTrue();
            messages.add(user ? ChatMessage.user(m.group(1)) : ChatMessage.assistant(m.group(1)));
        }
        return messages;
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}
