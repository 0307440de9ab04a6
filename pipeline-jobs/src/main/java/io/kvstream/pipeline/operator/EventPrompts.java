package io.kvstream.pipeline.operator;

import io.kvstream.generate.Prompt;
import io.kvstream.generate.PromptBuilder;
import io.kvstream.generate.Transcript;
import io.kvstream.model.vision.VisionConfig;
import io.kvstream.sampling.SamplingParams;
import io.kvstream.schema.ContextMessage;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.VideoFrame;
import io.kvstream.schema.VideoQuery;
import io.kvstream.tokenizer.ChatMessage;
import io.kvstream.tokenizer.ChatTemplate;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.nio.ByteBuffer;

/**
 * What an event feeds a session's cache, and the chat state after it. The text comes from {@link
 * Transcript}, the one implementation of chat-template deltas that offline eval uses too: a turn
 * appends the template's rendering of its message (with the generation prompt), and a reply
 * leaves owed what the template writes after it, fed before the session's next event.
 */
final class EventPrompts {

    private static final Logger LOG = LoggerFactory.getLogger(EventPrompts.class);
    private static final int[] NO_TOKENS = new int[0];

    /** One event's part: what to feed and what the session's chat becomes once it is fed. */
    record Plan(SessionRequest.Kind kind, ChatState chatAfter, @Nullable byte[] frame) {}

    private final ChatTemplate template;
    private final PromptBuilder prompts;
    @Nullable private final VisionConfig vision;
    private final int contextLength;

    EventPrompts(ChatTemplate template, PromptBuilder prompts, @Nullable VisionConfig vision, int contextLength) {
        this.template = template;
        this.prompts = prompts;
        this.vision = vision;
        this.contextLength = contextLength;
    }

    /** The chat state of a session that holds nothing: its first prompt starts with the BOS. */
    ChatState newSession() {
        return ChatState.start(template.start());
    }

    /**
     * Appends what the event feeds to {@code prompt}, after whatever it holds already.
     *
     * @param lastFrame the session's previous frame, for dropping unchanged patches
     * @throws IllegalArgumentException naming what is wrong with the event (also from the template)
     */
    Plan plan(SessionEvent event, ChatState held, @Nullable byte[] lastFrame, Prompt prompt) {
        Object payload = event.getPayload();
        // The session's messages, with the text rendered but not fed (the BOS, an end of turn) owed.
        Transcript transcript = new Transcript(template, held.messages(), held.unfedText(), true);
        if (payload instanceof UserTurn || payload instanceof VideoQuery) {
            String text = payload instanceof UserTurn
                    ? ((UserTurn) payload).getText() : ((VideoQuery) payload).getText();
            maxNewTokens(event);
            sampling(event);
            prompts.appendText(prompt, transcript.turn(ChatMessage.user(text)));
            return new Plan(SessionRequest.Kind.REPLY, chat(transcript, NO_TOKENS), null);
        }
        if (payload instanceof ContextMessage) {
            ContextMessage m = (ContextMessage) payload;
            prompts.appendText(prompt, transcript.context(new ChatMessage(m.getRole(), m.getText())));
            return new Plan(SessionRequest.Kind.CONTEXT, chat(transcript, NO_TOKENS), null);
        }
        if (payload instanceof VideoFrame) {
            VideoFrame f = (VideoFrame) payload;
            byte[] frame = frameBytes(f);
            prompts.appendText(prompt, transcript.beforeFrame());
            prompts.appendFrame(prompt, f.getIndex(), frame, lastFrame);
            return new Plan(SessionRequest.Kind.FRAME, chat(transcript, NO_TOKENS), frame);
        }
        throw new IllegalArgumentException(
                "Unknown payload " + (payload == null ? "null" : payload.getClass().getSimpleName()));
    }

    /**
     * The chat state after a reply: the reply joins the messages, and what the template renders
     * after it that the cache does not hold (the end-of-turn token, a last token drawn at the
     * limit) is left for the next prompt.
     *
     * @param fed the chat state once the turn was fed (its user message the last)
     * @param unfedTokens drawn tokens the cache does not hold
     */
    ChatState replied(String session, ChatState fed, String reply, int[] unfedTokens) {
        Transcript transcript = new Transcript(template, fed.messages(), "", true);
        if (!transcript.reply(reply)) {
            LOG.warn("Session {}: the template renders the reply differently from what was generated;"
                    + " continuing with the template's rendering where they part", session);
        }
        return chat(transcript, unfedTokens);
    }

    private static ChatState chat(Transcript transcript, int[] unfedTokens) {
        return new ChatState(transcript.messages(), unfedTokens, transcript.owed());
    }

    /** The event's {@code max_new_tokens}: 0 for events that draw nothing. */
    int maxNewTokens(SessionEvent event) {
        Object p = event.getPayload();
        int n = p instanceof UserTurn ? ((UserTurn) p).getMaxNewTokens()
                : p instanceof VideoQuery ? ((VideoQuery) p).getMaxNewTokens() : 0;
        if (n < 0) {
            throw new IllegalArgumentException("max_new_tokens must be >= 0, got " + n);
        }
        if (n > contextLength) {
            throw new IllegalArgumentException(String.format(
                    "max_new_tokens %d is more than the model's context of %d tokens", n, contextLength));
        }
        return n;
    }

    /** The event's sampling; out-of-range values are named by {@link SamplingParams}. */
    static SamplingParams sampling(SessionEvent event) {
        Object p = event.getPayload();
        Sampling s = p instanceof UserTurn ? ((UserTurn) p).getSampling()
                : p instanceof VideoQuery ? ((VideoQuery) p).getSampling() : null;
        if (s == null) {
            return SamplingParams.GREEDY;
        }
        return new SamplingParams(s.getTemperature(), s.getTopK(), s.getTopP(), s.getRepetitionPenalty(), s.getSeed());
    }

    private byte[] frameBytes(VideoFrame f) {
        if (vision == null) {
            throw new IllegalArgumentException("A video frame needs a vision projector; the job has none");
        }
        ByteBuffer rgb = f.getRgb();
        if (f.getWidth() != vision.frameSize() || f.getHeight() != vision.frameSize()
                || rgb == null || rgb.remaining() != vision.frameBytes()) {
            throw new IllegalArgumentException(String.format(
                    "Frame %d is %dx%d with %d bytes; the projector takes %dx%d RGB frames of %d bytes",
                    f.getIndex(), f.getWidth(), f.getHeight(), rgb == null ? 0 : rgb.remaining(),
                    vision.frameSize(), vision.frameSize(), vision.frameBytes()));
        }
        byte[] bytes = new byte[rgb.remaining()];
        rgb.duplicate().get(bytes);
        return bytes;
    }
}
