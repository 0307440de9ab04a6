package io.kvstream.generate;

import io.kvstream.tokenizer.ChatMessage;
import io.kvstream.tokenizer.ChatTemplate;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A session's conversation as its cache holds it: the messages so far, and the text each new
 * event appends, rendered with the model's own chat template.
 *
 * <p>After a reply the cache holds the generated tokens but not what the template writes after
 * an assistant message (the end-of-turn token is drawn, not fed): that text is owed, and the next
 * thing appended starts with it. Frames are not messages; they go between the rendered pieces.
 * Not thread-safe; one per session.
 */
public final class Transcript {

    private final ChatTemplate template;
    private final List<ChatMessage> held;
    private String owed;
    private boolean started;

    public Transcript(ChatTemplate template) {
        this(template, new ArrayList<>(), "", false);
    }

    /** A transcript restored from state. */
    public Transcript(ChatTemplate template, List<ChatMessage> held, String owed, boolean started) {
        this.template = template;
        this.held = new ArrayList<>(held);
        this.owed = owed;
        this.started = started;
    }

    /** The text that begins the session (the BOS), once; empty after that. */
    public String start() {
        if (started) {
            return "";
        }
        started = true;
        return template.start();
    }

    /** Text for a message that is prefilled without a reply (system prompt, history). */
    public String context(ChatMessage message) {
        return append(message, false);
    }

    /** Text for a user turn that is to be answered: the message and the generation prompt. */
    public String turn(ChatMessage user) {
        return append(user, true);
    }

    /** Text to feed before a video frame: whatever is owed from the last reply. */
    public String beforeFrame() {
        String text = start() + owed;
        owed = "";
        return text;
    }

    /**
     * Records the reply generated after {@link #turn}: the cache now holds the rendering up to
     * the generation prompt plus {@code reply}; what the template adds after it becomes owed.
     *
     * @return false when the template renders the reply otherwise than the cache holds it (a
     *     template that rewrites replies): the owed text then starts where the two part, which
     *     keeps the session going with the template's rendering from there on
     */
    public boolean reply(String reply) {
        String prompt = template.render(held, true);
        held.add(ChatMessage.assistant(reply));
        String rendered = template.render(held, false);
        String cached = prompt + reply;
        if (rendered.startsWith(cached)) {
            owed = rendered.substring(cached.length());
            return true;
        }
        int common = 0;
        int most = Math.min(cached.length(), rendered.length());
        while (common < most && cached.charAt(common) == rendered.charAt(common)) {
            common++;
        }
        owed = rendered.substring(common);
        return false;
    }

    public List<ChatMessage> messages() {
        return Collections.unmodifiableList(held);
    }

    public String owed() {
        return owed;
    }

    public boolean started() {
        return started;
    }

    private String append(ChatMessage message, boolean generationPrompt) {
        String text = start() + owed + template.renderAppended(held, List.of(message), generationPrompt);
        held.add(message);
        owed = "";
        return text;
    }
}
