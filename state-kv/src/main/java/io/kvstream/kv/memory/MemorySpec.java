package io.kvstream.kv.memory;

import static org.apache.flink.util.Preconditions.checkArgument;

/**
 * The {@code memory} part of a {@code --kv} spec: blocks that the window evicts are kept, and the
 * best {@code retrieve} of them come back into attention for each prompt step.
 *
 * <pre>
 * memory:retrieve=K[,follow=F][,share=head|layer|step][,place=keep|pack][,limit=BYTES][,queries=W][,page=P]
 *        [,candidates=C][,match=off|tokens|focus][,span=T][,after=A]
 * </pre>
 *
 * @param retrieve blocks brought back per step; their slots sit between the sinks and the window
 * @param limitBytes most bytes the memory may store per session; past it, the block used least
 *     recently goes (see {@link SessionMemory})
 * @param queries the step's last tokens whose queries score the blocks: a turn's question sits at
 *     its end, so scoring with every token of a long prefill chunk would drown it
 * @param pageTokens tokens per key bounding box in a block's summary
 * @param candidates blocks whose keys are scored exactly, chosen by their summaries' bounds; 0
 *     scores every block's keys
 * @param follow blocks after each chosen block that come back with it, within {@code retrieve}
 * @param share who shares a choice of blocks: each kv head chooses its own ({@code head}), the
 *     heads of a layer choose together ({@code layer}), or each layer adds to what the earlier
 *     layers of the step wanted ({@code step})
 * @param place where retrieved tokens go in the region: at the position they were written at
 *     where that fits ({@code keep}), or packed to end where the window begins ({@code pack})
 * @param match whether a turn's own tokens choose blocks: with {@code tokens}, blocks holding a
 *     pair of the turn's token ids that the working set does not hold (and at most half the
 *     memory's blocks do) come back instead of the blocks attention logits choose (see {@link
 *     TurnMatch}); with {@code focus}, such a turn
 *     also attends over the sinks, those blocks and its own tokens only, not the window, so that
 *     what it asks about is not drowned by what came last; {@code off} matches nothing
 * @param span with {@code match}: the region takes the tokens within {@code span} of each named
 *     pair, not the named blocks whole; 0 takes whole blocks (with the one before and
 *     {@code follow} after)
 * @param after with {@code span}: how many tokens after the named pair the region takes, if not
 *     {@code span} ({@link #AFTER_AS_SPAN})
 */
public record MemorySpec(
        int retrieve, long limitBytes, int queries, int pageTokens, int candidates, int follow, String share,
        String place, String match, int span, int after) {

    public static final long DEFAULT_LIMIT = 64L << 20;
    public static final int DEFAULT_QUERIES = 16;
    public static final int DEFAULT_PAGE = 16;
    public static final int DEFAULT_CANDIDATES = 0;
    public static final int DEFAULT_FOLLOW = 1;
    public static final String SHARE_HEAD = "head";
    public static final String SHARE_LAYER = "layer";
    public static final String SHARE_STEP = "step";
    public static final String DEFAULT_SHARE = SHARE_STEP;
    public static final String PLACE_KEEP = "keep";
    public static final String PLACE_PACK = "pack";
    public static final String DEFAULT_PLACE = PLACE_PACK;
    public static final String MATCH_OFF = "off";
    public static final String MATCH_TOKENS = "tokens";
    public static final String MATCH_FOCUS = "focus";
    public static final String DEFAULT_MATCH = MATCH_OFF;
    public static final int DEFAULT_SPAN = 0;
    /** {@code after} when not given: the span's own width. */
    public static final int AFTER_AS_SPAN = -1;

    public MemorySpec {
        checkArgument(retrieve > 0 && retrieve <= 1024, "memory retrieve must be in 1..1024, not %s", retrieve);
        checkArgument(limitBytes > 0, "memory limit must be positive, not %s", limitBytes);
        checkArgument(queries > 0, "memory queries must be positive, not %s", queries);
        checkArgument(pageTokens > 0 && Integer.bitCount(pageTokens) == 1 && pageTokens <= 64,
                "memory page must be a power of two up to 64, not %s", pageTokens);
        checkArgument(candidates >= 0, "memory candidates must be >= 0, not %s", candidates);
        checkArgument(follow >= 0 && follow <= 64, "memory follow must be in 0..64, not %s", follow);
        checkArgument(share.equals(SHARE_HEAD) || share.equals(SHARE_LAYER) || share.equals(SHARE_STEP),
                "memory share takes head, layer or step, not %s", share);
        checkArgument(place.equals(PLACE_KEEP) || place.equals(PLACE_PACK), "memory place takes keep or pack, not %s", place);
        checkArgument(match.equals(MATCH_OFF) || match.equals(MATCH_TOKENS) || match.equals(MATCH_FOCUS),
                "memory match takes off, tokens or focus, not %s", match);
        checkArgument(span >= 0, "memory span must be >= 0, not %s", span);
        checkArgument(after >= AFTER_AS_SPAN, "memory after must be >= 0, not %s", after);
    }

    public boolean matchesTokens() {
        return !match.equals(MATCH_OFF);
    }

    /** Tokens after a named pair that the region takes, with {@code span}. */
    public int spanAfter() {
        return after == AFTER_AS_SPAN ? span : after;
    }

    public boolean focuses() {
        return match.equals(MATCH_FOCUS);
    }

    public boolean keepPositions() {
        return place.equals(PLACE_KEEP);
    }

    /** Parses a byte count: digits, optionally followed by {@code k}, {@code m} or {@code g}. */
    public static long parseBytes(String text) {
        String t = text.trim();
        long unit = 1;
        char last = t.isEmpty() ? ' ' : t.charAt(t.length() - 1);
        if (last == 'k' || last == 'm' || last == 'g') {
            unit = last == 'k' ? 1L << 10 : last == 'm' ? 1L << 20 : 1L << 30;
            t = t.substring(0, t.length() - 1);
        }
        try {
            return Math.multiplyExact(Long.parseLong(t), unit);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("memory limit " + text + " is not a byte count like 65536, 512k or 64m", e);
        }
    }

    /** The canonical form: defaults left out. */
    public String spec() {
        StringBuilder sb = new StringBuilder("memory:retrieve=").append(retrieve);
        if (limitBytes != DEFAULT_LIMIT) {
            sb.append(",limit=").append(formatBytes(limitBytes));
        }
        if (queries != DEFAULT_QUERIES) {
            sb.append(",queries=").append(queries);
        }
        if (pageTokens != DEFAULT_PAGE) {
            sb.append(",page=").append(pageTokens);
        }
        if (follow != DEFAULT_FOLLOW) {
            sb.append(",follow=").append(follow);
        }
        if (!share.equals(DEFAULT_SHARE)) {
            sb.append(",share=").append(share);
        }
        if (!place.equals(DEFAULT_PLACE)) {
            sb.append(",place=").append(place);
        }
        if (candidates != DEFAULT_CANDIDATES) {
            sb.append(",candidates=").append(candidates);
        }
        if (!match.equals(DEFAULT_MATCH)) {
            sb.append(",match=").append(match);
        }
        if (span != DEFAULT_SPAN) {
            sb.append(",span=").append(span);
        }
        if (after != AFTER_AS_SPAN) {
            sb.append(",after=").append(after);
        }
        return sb.toString();
    }

    private static String formatBytes(long bytes) {
        if (bytes % (1L << 30) == 0) {
            return (bytes >> 30) + "g";
        }
        if (bytes % (1L << 20) == 0) {
            return (bytes >> 20) + "m";
        }
        if (bytes % (1L << 10) == 0) {
            return (bytes >> 10) + "k";
        }
        return Long.toString(bytes);
    }
}
