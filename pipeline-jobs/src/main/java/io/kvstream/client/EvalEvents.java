package io.kvstream.client;

import io.kvstream.eval.EvalSample;
import io.kvstream.schema.ContextMessage;
import io.kvstream.schema.Sampling;
import io.kvstream.schema.UserTurn;
import io.kvstream.schema.VideoFrame;
import io.kvstream.schema.VideoQuery;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns an eval sample into the events of one session, so that the pipeline's token stream for
 * the session is exactly what offline {@code eval} feeds: the history as {@link ContextMessage}s
 * and {@link VideoFrame}s, the last user turn as the request ({@link UserTurn}, or {@link
 * VideoQuery} once the session has frames).
 *
 * <p>The eval format writes the chat template out by hand ({@code <|bos|>}, then {@code
 * <|user|>X<|end|><|assistant|>} and {@code Y<|end|>} segments); the pipeline renders messages
 * with the model's chat template instead, so the segments are parsed back into messages here.
 * Anything else in a sample is an error rather than a guess: a replay that silently feeds other
 * tokens would measure something else.
 */
public final class EvalEvents {

    private static final String BOS = "<|bos|>";
    private static final Pattern USER =
            Pattern.compile("<\\|user\\|>(.*)<\\|end\\|><\\|assistant\\|>", Pattern.DOTALL);
    private static final Pattern REPLY = Pattern.compile("((?:(?!<\\|).)*)<\\|end\\|>", Pattern.DOTALL);

    /** Greedy, as offline eval decodes. */
    public static final Sampling GREEDY = Sampling.newBuilder().build();

    private EvalEvents() {}

    /**
     * The payloads of the sample's session, in order; the last one is the request to answer.
     *
     * @param frameIntervalMs presentation time between frames, for {@code VideoFrame.timestamp_ms}
     */
    public static List<Object> payloads(EvalSample sample, int maxNewTokens, long frameIntervalMs) {
        List<EvalSample.Segment> segments = sample.segments();
        if (segments.isEmpty() || segments.get(0).isFrame() || !BOS.equals(segments.get(0).text())) {
            throw invalid(sample, 0, "does not start with " + BOS + " (the chat template adds it)");
        }
        List<Object> out = new ArrayList<>(segments.size());
        boolean frames = false;
        for (int i = 1; i < segments.size(); i++) {
            EvalSample.Segment s = segments.get(i);
            boolean last = i == segments.size() - 1;
            if (s.isFrame()) {
                if (last) {
                    throw invalid(sample, i, "ends with a frame, not a question");
                }
                out.add(frame(sample, i, s, frameIntervalMs));
                frames = true;
                continue;
            }
            Matcher user = USER.matcher(s.text());
            if (user.matches()) {
                String text = user.group(1);
                if (text.contains("<|")) {
                    throw invalid(sample, i, "has special tokens inside a user message");
                }
                if (last) {
                    out.add(frames ? videoQuery(text, maxNewTokens) : userTurn(text, maxNewTokens));
                } else {
                    out.add(new ContextMessage("user", text));
                }
                continue;
            }
            Matcher reply = REPLY.matcher(s.text());
            if (reply.matches() && !last && isAfterUser(segments, i)) {
                out.add(new ContextMessage("assistant", reply.group(1)));
                continue;
            }
            throw invalid(sample, i, "is neither <|user|>...<|end|><|assistant|> nor a reply ...<|end|>"
                    + (last ? " asking a question" : " after a user message"));
        }
        if (out.isEmpty() || out.get(out.size() - 1) instanceof ContextMessage) {
            throw invalid(sample, segments.size() - 1, "has no question to answer");
        }
        return out;
    }

    private static boolean isAfterUser(List<EvalSample.Segment> segments, int i) {
        EvalSample.Segment before = segments.get(i - 1);
        return !before.isFrame() && USER.matcher(before.text()).matches();
    }

    public static UserTurn userTurn(String text, int maxNewTokens) {
        return UserTurn.newBuilder().setText(text).setMaxNewTokens(maxNewTokens).setSampling(GREEDY).build();
    }

    public static VideoQuery videoQuery(String text, int maxNewTokens) {
        return VideoQuery.newBuilder().setText(text).setMaxNewTokens(maxNewTokens).setSampling(GREEDY).build();
    }

    private static VideoFrame frame(EvalSample sample, int i, EvalSample.Segment s, long intervalMs) {
        int side = (int) Math.round(Math.sqrt(s.rgb().length / 3.0));
        if (side * side * 3 != s.rgb().length) {
            throw invalid(sample, i, "is a frame of " + s.rgb().length + " bytes, not a square RGB image");
        }
        return VideoFrame.newBuilder()
                .setIndex(s.frame())
                .setTimestampMs(s.frame() * intervalMs)
                .setWidth(side)
                .setHeight(side)
                .setRgb(ByteBuffer.wrap(s.rgb()))
                .build();
    }

    private static IllegalArgumentException invalid(EvalSample sample, int segment, String why) {
        return new IllegalArgumentException(
                String.format("eval sample %d: segment %d %s", sample.index(), segment, why));
    }
}
