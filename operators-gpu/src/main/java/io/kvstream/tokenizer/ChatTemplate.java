package io.kvstream.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import javax.annotation.Nullable;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face chat template (Jinja) rendered with Jinjava, configured the way transformers'
 * {@code apply_chat_template} sets up Jinja2: {@code trim_blocks} and {@code lstrip_blocks} on,
 * {@code raise_exception(msg)} and {@code strftime_now(fmt)} available, {@code bos_token} and
 * {@code eos_token} defined, undefined variables falsy (templates test {@code if tools} without
 * defining it).
 *
 * <p>Broken templates fail instead of rendering garbage: syntax errors, unknown tags, filters
 * or tests Jinjava does not know, and errors on the path a plain user/assistant/user conversation
 * takes are reported when the template is built; any error while rendering (including {@code
 * raise_exception}) throws {@link ChatTemplateException}, where Jinjava on its own would only
 * record it next to partial output.
 *
 * <p>Known gaps against Jinja2: Python string methods ({@code .startswith}, {@code .upper()}) do
 * not exist on Jinjava strings (they fail loudly), and whitespace around comments ({@code {# #}})
 * can differ.
 */
public final class ChatTemplate {

    private static final Pattern TAG =
            Pattern.compile("\\{\\{(.*?)}}|\\{%(.*?)%}", Pattern.DOTALL);
    private static final Pattern STRING_LITERAL =
            Pattern.compile("'(?:[^'\\\\]|\\\\.)*'|\"(?:[^\"\\\\]|\\\\.)*\"", Pattern.DOTALL);
    private static final Pattern FILTER = Pattern.compile("\\|\\s*([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern FILTER_BLOCK =
            Pattern.compile("^\\s*filter\\s+([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern TEST =
            Pattern.compile("\\bis\\s+(?:not\\s+)?([A-Za-z_][A-Za-z0-9_]*)");

    private final String template;
    @Nullable private final String bosToken;
    @Nullable private final String eosToken;
    private final Jinjava jinjava;

    /**
     * @param template the Jinja source, e.g. GGUF {@code tokenizer.chat_template}
     * @param bosToken text of the BOS token, as {@code bos_token}; null leaves it undefined
     * @param eosToken text of the EOS token, as {@code eos_token}; null leaves it undefined
     * @throws ChatTemplateException if the template does not parse or uses unknown filters/tests
     */
    public ChatTemplate(String template, @Nullable String bosToken, @Nullable String eosToken) {
        if (template == null) {
            throw new IllegalArgumentException("Chat template must not be null");
        }
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.jinjava = newJinjava();
        checkParses();
        checkFiltersAndTestsExist();
        probe();
    }

    /** The template of a tokenizer, with its BOS and EOS token texts. */
    public static ChatTemplate of(TokenizerData data) {
        if (data.chatTemplate() == null) {
            throw new IllegalArgumentException("The tokenizer has no chat template");
        }
        return new ChatTemplate(
                data.chatTemplate(),
                data.bosId() >= 0 ? data.tokens().get(data.bosId()) : null,
                data.eosId() >= 0 ? data.tokens().get(data.eosId()) : null);
    }

    public String template() {
        return template;
    }

    /**
     * Renders the whole conversation.
     *
     * @param addGenerationPrompt append the text that opens an assistant reply
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> jinjaMessages = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            jinjaMessages.add(map);
        }
        Map<String, Object> context = new HashMap<>();
        context.put("messages", jinjaMessages);
        context.put("add_generation_prompt", addGenerationPrompt);
        if (bosToken != null) {
            context.put("bos_token", bosToken);
        }
        if (eosToken != null) {
            context.put("eos_token", eosToken);
        }
        RenderResult result = jinjava.renderForResult(template, context);
        List<String> problems = new ArrayList<>();
        Throwable cause = null;
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.WARNING) {
                continue;
            }
            Throwable raised = raisedBy(e);
            if (raised != null) {
                throw new ChatTemplateException(
                        String.format("Chat template raised: %s", raised.getMessage()), raised);
            }
            problems.add(describe(e));
            cause = cause == null ? e.getException() : cause;
        }
        if (!problems.isEmpty()) {
            throw new ChatTemplateException(
                    String.format(
                            "Chat template failed on %d messages: %s",
                            messages.size(), String.join("; ", problems)),
                    cause);
        }
        return result.getOutput();
    }

    /** What a session holds before any message: the rendering of none (usually the BOS). */
    public String start() {
        return render(List.of(), false);
    }

    /**
     * The text to append to a session that already holds {@code held} so that it holds {@code
     * held} plus {@code added}: the rendering of all messages minus the rendering of {@code held}.
     *
     * <p>{@code held} is rendered without the generation prompt: a session holds the prompt with
     * the generation prompt followed by the reply it generated, which is what rendering the reply
     * as an assistant message gives. With nothing held, what the rendering of no messages holds
     * (usually the BOS, see {@link #start()}) is left out too: a session begins with that.
     *
     * @throws NotAppendOnlyException if the template renders the held messages differently once
     *     more follow (e.g. it moves a system prompt, or drops earlier reasoning); the session's
     *     cache cannot be extended then and the conversation must be prefilled again.
     */
    public String renderAppended(
            List<ChatMessage> held, List<ChatMessage> added, boolean addGenerationPrompt) {
        List<ChatMessage> all = new ArrayList<>(held.size() + added.size());
        all.addAll(held);
        all.addAll(added);
        String after = render(all, addGenerationPrompt);
        String before = render(held, false);
        if (!after.startsWith(before)) {
            int common = 0;
            int max = Math.min(before.length(), after.length());
            while (common < max && before.charAt(common) == after.charAt(common)) {
                common++;
            }
            throw new NotAppendOnlyException(held.size(), added.size(), common, before, after);
        }
        return after.substring(before.length());
    }

    /**
     * The template renders held messages differently once more messages follow, so the new turn
     * cannot be appended to what a session already holds.
     */
    public static final class NotAppendOnlyException extends ChatTemplateException {

        private static final long serialVersionUID = 1L;

        private final int commonPrefixLength;

        NotAppendOnlyException(int held, int added, int common, String before, String after) {
            super(
                    String.format(
                            "Chat template is not append-only: rendering %d held messages plus %d"
                                    + " new ones changes the held text at character %d"
                                    + " (held text has %s, new rendering has %s)",
                            held,
                            added,
                            common,
                            excerpt(before, common),
                            excerpt(after, common)));
            this.commonPrefixLength = common;
        }

        /** Length of the part of the held rendering that is unchanged. */
        public int commonPrefixLength() {
            return commonPrefixLength;
        }

        private static String excerpt(String s, int at) {
            if (at >= s.length()) {
                return "nothing more";
            }
            return '"' + s.substring(at, Math.min(s.length(), at + 40)) + '"';
        }
    }

    // ---------------------------------------------------------------------------------------

    private static Jinjava newJinjava() {
        JinjavaConfig config =
                JinjavaConfig.newBuilder()
                        .withTrimBlocks(true)
                        .withLstripBlocks(true)
                        .withLegacyOverrides(
                                LegacyOverrides.newBuilder()
                                        // Python semantics where Jinjava's defaults differ.
                                        .withUsePyishObjectMapper(true)
                                        .withUseNaturalOperatorPrecedence(true)
                                        .withEvaluateMapKeys(true)
                                        .withIterateOverMapKeys(true)
                                        .withKeepNullableLoopValues(true)
                                        // Without these "{{-" and "-}}" do not strip whitespace.
                                        .withParseWhitespaceControlStrictly(true)
                                        .withUseTrimmingForNotesAndExpressions(true)
                                        .build())
                        .build();
        Jinjava jinjava = new Jinjava(config);
        jinjava.getGlobalContext()
                .registerFunction(
                        new ELFunctionDefinition(
                                "", "raise_exception", Functions.class, "raiseException", String.class));
        jinjava.getGlobalContext()
                .registerFunction(
                        new ELFunctionDefinition(
                                "", "strftime_now", Functions.class, "strftimeNow", String.class));
        return jinjava;
    }

    private void checkParses() {
        JinjavaInterpreter interpreter = jinjava.newInterpreter();
        interpreter.parse(template);
        List<String> problems = new ArrayList<>();
        for (TemplateError e : interpreter.getErrors()) {
            if (e.getSeverity() != TemplateError.ErrorType.WARNING) {
                problems.add(describe(e));
            }
        }
        if (!problems.isEmpty()) {
            throw new ChatTemplateException(
                    String.format("Chat template does not parse: %s", String.join("; ", problems)));
        }
    }

    // Jinjava parses expressions only when it evaluates them, so "{{ 1 + }}" passes parse();
    // rendering a plain conversation once finds such errors on the common path at build time.
    // raise_exception is fine here: a template may well reject this particular conversation.
    private void probe() {
        List<ChatMessage> conversation =
                List.of(
                        ChatMessage.user("probe"),
                        ChatMessage.assistant("probe"),
                        ChatMessage.user("probe"));
        try {
            render(conversation, true);
        } catch (ChatTemplateException e) {
            if (!(e.getCause() instanceof RaisedException)) {
                throw new ChatTemplateException(
                        String.format(
                                "Chat template fails on a user/assistant/user conversation: %s",
                                e.getMessage()),
                        e);
            }
        }
    }

    // Jinjava renders an unknown filter or test as empty/false without any error, which would
    // quietly drop text from prompts; look the names up before any rendering instead.
    private void checkFiltersAndTestsExist() {
        List<String> unknown = new ArrayList<>();
        Matcher tag = TAG.matcher(template);
        while (tag.find()) {
            String body = tag.group(1) != null ? tag.group(1) : tag.group(2);
            String code = STRING_LITERAL.matcher(body).replaceAll("''");
            Matcher f = FILTER.matcher(code);
            while (f.find()) {
                addIfUnknownFilter(f.group(1), unknown);
            }
            Matcher block = FILTER_BLOCK.matcher(code.replaceFirst("^[-+]", ""));
            if (tag.group(2) != null && block.find()) {
                addIfUnknownFilter(block.group(1), unknown);
            }
            Matcher t = TEST.matcher(code);
            while (t.find()) {
                if (jinjava.getGlobalContext().getExpTest(t.group(1)) == null) {
                    unknown.add(String.format("test '%s'", t.group(1)));
                }
            }
        }
        if (!unknown.isEmpty()) {
            throw new ChatTemplateException(
                    String.format("Chat template uses unknown %s", String.join(", ", unknown)));
        }
    }

    private void addIfUnknownFilter(String name, List<String> unknown) {
        if (jinjava.getGlobalContext().getFilter(name) == null) {
            unknown.add(String.format("filter '%s'", name));
        }
    }

    private static String describe(TemplateError e) {
        return String.format("line %d: %s", e.getLineno(), e.getMessage());
    }

    @Nullable
    private static Throwable raisedBy(TemplateError e) {
        for (Throwable t = e.getException(); t != null; t = t.getCause()) {
            if (t instanceof RaisedException) {
                return t;
            }
        }
        return null;
    }

    /** What {@code raise_exception} throws, told apart from Jinjava's own errors. */
    private static final class RaisedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RaisedException(String message) {
            super(message);
        }
    }

    /** Functions HF makes available to templates; public because Jinjava calls them reflectively. */
    public static final class Functions {

        private Functions() {}

        public static String raiseException(String message) {
            throw new RaisedException(message);
        }

        /** Python's {@code strftime} for the directives templates use to print today's date. */
        public static String strftimeNow(String format) {
            return strftime(ZonedDateTime.now(), format);
        }

        static String strftime(ZonedDateTime t, String format) {
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < format.length(); i++) {
                char c = format.charAt(i);
                if (c != '%' || i + 1 == format.length()) {
                    out.append(c);
                    continue;
                }
                char d = format.charAt(++i);
                switch (d) {
                    case 'Y':
                        out.append(t.getYear());
                        break;
                    case 'y':
                        out.append(String.format("%02d", t.getYear() % 100));
                        break;
                    case 'm':
                        out.append(String.format("%02d", t.getMonthValue()));
                        break;
                    case 'd':
                        out.append(String.format("%02d", t.getDayOfMonth()));
                        break;
                    case 'e':
                        out.append(String.format("%2d", t.getDayOfMonth()));
                        break;
                    case 'j':
                        out.append(String.format("%03d", t.getDayOfYear()));
                        break;
                    case 'H':
                        out.append(String.format("%02d", t.getHour()));
                        break;
                    case 'I':
                        out.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                        break;
                    case 'M':
                        out.append(String.format("%02d", t.getMinute()));
                        break;
                    case 'S':
                        out.append(String.format("%02d", t.getSecond()));
                        break;
                    case 'p':
                        out.append(t.getHour() < 12 ? "AM" : "PM");
                        break;
                    case 'B':
                        out.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.US));
                        break;
                    case 'b':
                        out.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US));
                        break;
                    case 'A':
                        out.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US));
                        break;
                    case 'a':
                        out.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US));
                        break;
                    case '%':
                        out.append('%');
                        break;
                    default:
                        throw new IllegalArgumentException(
                                String.format("strftime_now: unsupported directive %%%c in '%s'", d, format));
                }
            }
            return out.toString();
        }
    }
}
