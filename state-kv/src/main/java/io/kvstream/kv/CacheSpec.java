package io.kvstream.kv;


import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A {@code --kv} argument: the cache's {@link KvSpec} plus an optional {@code dtd:threshold=T},
 * which drops redundant video patches before prefill rather than compressing the cache.
 *
 * @param dropThreshold 0 when no {@code dtd} part is given
 */
public record CacheSpec(KvSpec kv, float dropThreshold) {

    /**
     * What {@code --kv long} means: {@link KvSpec#LONG}, and video patches that changed less than
     * 8 (the threshold the model was trained with) dropped. Sessions past the trained context
     * hold hundreds of frames; dropping leaves the memory fewer, shorter frames to search and bring
     * back (docs/memory.md).
     */
    public static final String LONG = KvSpec.LONG + "+dtd:threshold=8";

    public static CacheSpec parse(String text) {
        List<String> rest = new ArrayList<>();
        float threshold = 0f;
        String spec = text.trim().toLowerCase(Locale.ROOT);
        for (String part : (spec.equals("long") ? LONG : spec).split("\\+")) {
            if (part.startsWith("dtd")) {
                threshold = parseThreshold(text, part);
            } else {
                rest.add(part);
            }
        }
        String kv = rest.isEmpty() ? "full" : String.join("+", rest);
        return new CacheSpec(KvSpec.parse(kv), threshold);
    }

    private static float parseThreshold(String text, String part) {
        String prefix = "dtd:threshold=";
        if (!part.startsWith(prefix)) {
            throw new IllegalArgumentException(
                    String.format("bad kv spec '%s': expected dtd:threshold=T, got '%s'", text, part));
        }
        try {
            float t = Float.parseFloat(part.substring(prefix.length()));
            if (!(t >= 0f && t <= 255f)) {
                throw new NumberFormatException();
            }
            return t;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    String.format("bad kv spec '%s': the dtd threshold must be in 0..255", text), e);
        }
    }

    @Override
    public String toString() {
        return dropThreshold > 0f ? kv + "+dtd:threshold=" + formatThreshold() : kv.toString();
    }

    private String formatThreshold() {
        return dropThreshold == Math.rint(dropThreshold)
                ? Integer.toString((int) dropThreshold)
                : Float.toString(dropThreshold);
    }
}
