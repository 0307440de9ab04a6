package io.kvstream.kv.memory;

import io.kvstream.kv.block.ParsedBlock;

import java.util.Arrays;

/**
 * Finds the memory blocks a turn names: blocks holding a pair of consecutive token ids of the
 * turn's last {@link MemorySpec#queries()} tokens that the working set does not hold and at most
 * half of the memory's blocks do (such as {@code =16} of {@code t=16?}, or {@code locker code}).
 *
 * <p>Pairs the working set holds say nothing about memory: {@code what is} or a question's
 * template tokens are everywhere, and a fact or a frame marker still in the window is better found
 * there. So the turn names memory only with pairs found in memory alone; then the named blocks,
 * oldest first, take the retrieval budget instead of blocks chosen by attention logits. Oldest,
 * because a session repeats what it said: a fact is stated once and then asked about, a frame's
 * marker comes before every question naming it, and on short sessions that repeat their
 * questions (`eval-shared.jsonl`) the first mention answered 0.86 where the rarest-pair-first order
 * answered 0.80 (docs/memory.md). Single tokens would be too loose (a digit, a common word); a pair
 * of them seldom repeats by chance.
 *
 * <p>Ids come from the cache, which keeps them with its blocks when its memory matches tokens;
 * positions that carried an embedding (video patches) have id -1 and match nothing. Attention
 * logits cannot do this: a question shares with a frame marker only the digits of its index, and
 * one query against one key does not single them out.
 *
 * <p>Single-threaded; buffers grow with the memory and are kept from step to step.
 */
final class TurnMatch {

    /** Query tokens a turn is matched with: bits of a {@code long}. */
    static final int MAX_QUERIES = 63;

    private final MemorySpec spec;
    private final int blockTokens;
    private final int[] queryIds = new int[MAX_QUERIES];
    private int queryCount;

    private long[] pairs = new long[0];
    /** Per block, per pair bit, the session token that completed the pair there last. */
    private int[][] pairTokens = new int[0][];
    private int[] namedToken = new int[0];
    private int[] named = new int[0];
    private int namedCount;
    /** Per block chosen by {@link #choose} with a span, the tokens the region takes: {@code [spanFrom, spanTo)}. */
    private int[] spanFrom = new int[0];
    private int[] spanTo = new int[0];

    TurnMatch(MemorySpec spec, int blockTokens) {
        this.spec = spec;
        this.blockTokens = blockTokens;
    }

    /**
     * Decides which blocks the step names.
     *
     * @param stepIds the step's token ids, {@code stepTokens} of them
     * @param tokenIds per session token, its id; {@code slotTokens} says the token of each of the
     *     {@code held} slots of the working set
     * @param firstRecent the oldest token the window holds after the sinks; memory tokens from it
     *     on are in attention already
     */
    void match(MemoryBlock[] order, int n, int[] stepIds, int stepTokens, int[] tokenIds, int[] slotTokens, int held,
               int sink, int firstRecent) {
        namedCount = 0;
        int from = Math.max(0, stepTokens - Math.min(spec.queries(), MAX_QUERIES));
        int w = stepTokens - from;
        System.arraycopy(stepIds, from, queryIds, 0, w);
        queryCount = w;
        long inWorkingSet = heldPairs(stepIds, from, tokenIds, slotTokens, held, sink);
        if (pairs.length < n) {
            int size = Math.max(n, pairs.length * 2);
            pairs = new long[size];
            named = new int[size];
            namedToken = new int[size];
            pairTokens = Arrays.copyOf(pairTokens, size);
            spanFrom = new int[size];
            spanTo = new int[size];
        }
        long previous = 0L;
        for (int b = 0; b < n; b++) {
            boolean follows = b > 0 && order[b].index == order[b - 1].index + 1;
            previous = blockPairs(order[b].block, b, follows ? previous : 0L, sink, firstRecent);
        }
        // A pair names blocks when the working set does not hold it and at most half of the
        // memory's blocks do (or the retrieval budget's worth, for a small memory): "what is"
        // or a template pair is everywhere and says nothing.
        int most = Math.max(spec.retrieve(), n / 2);
        Arrays.fill(namedToken, 0, n, -1);
        for (int j = 1; j < w; j++) {
            long bit = 1L << j;
            if ((inWorkingSet & bit) != 0) {
                continue;
            }
            int holders = 0;
            for (int b = 0; b < n; b++) {
                if ((pairs[b] & bit) != 0) {
                    holders++;
                }
            }
            if (holders > most) {
                continue;
            }
            for (int b = 0; b < n; b++) {
                if ((pairs[b] & bit) != 0) {
                    // The named point is where the block's naming pairs end: a phrase of the turn
                    // found there ends at its last pair, and what it introduces follows.
                    namedToken[b] = Math.max(namedToken[b], pairTokens[b][j]);
                }
            }
        }
        // Oldest first: where the turn's words were first said, which later mentions repeat (a
        // fact stated, then asked about; a frame marker, then questions naming it).
        for (int b = 0; b < n; b++) {
            if (namedToken[b] >= 0) {
                named[namedCount++] = b;
            }
        }
    }

    /** Which query tokens id {@code id} is: bit {@code j} set when it is query token {@code j}. */
    private long matches(int id) {
        if (id < 0) {
            return 0L;
        }
        long bits = 0L;
        for (int q = 0; q < queryCount; q++) {
            if (queryIds[q] == id) {
                bits |= 1L << q;
            }
        }
        return bits;
    }

    /**
     * The query pairs that a token completes after a token with {@code previous} matches: bit
     * {@code j} set when the two are query tokens {@code j - 1} and {@code j}.
     */
    private static long pairs(long previous, long current) {
        return (previous << 1) & current;
    }

    /** Pairs of the turn found among the held tokens and the step's tokens before its query tail. */
    private long heldPairs(int[] stepIds, int from, int[] tokenIds, int[] slotTokens, int held, int sink) {
        long found = 0L;
        long previous = 0L;
        int previousToken = -2;
        for (int s = sink; s < held; s++) {
            int t = slotTokens[s];
            long bits = matches(tokenIds[t]);
            found |= pairs(t == previousToken + 1 ? previous : 0L, bits);
            previous = bits;
            previousToken = t;
        }
        for (int i = 0; i < from; i++) {
            long bits = matches(stepIds[i]);
            found |= pairs(i == 0 ? 0L : previous, bits);
            previous = bits;
        }
        return found;
    }

    /**
     * Records in {@link #pairs} which of the turn's pairs block {@code b} holds among the tokens
     * memory deals with (not sinks, older than the window), counting a pair that starts on the
     * previous block's last token; returns its last token's matches.
     */
    private long blockPairs(ParsedBlock p, int b, long previous, int sink, int firstRecent) {
        if (pairTokens[b] == null) {
            pairTokens[b] = new int[MAX_QUERIES + 1];
        }
        int[] ids = p.tokenIds();
        int base = p.index() * blockTokens;
        long found = 0L;
        for (int j = 0; j < p.appended(); j++) {
            int token = base + j;
            long bits = ids != null && token >= sink && token < firstRecent ? matches(ids[j]) : 0L;
            long completed = pairs(previous, bits);
            for (long c = completed; c != 0; c &= c - 1) {
                pairTokens[b][Long.numberOfTrailingZeros(c)] = token;
            }
            found |= completed;
            previous = bits;
        }
        pairs[b] = found;
        return previous;
    }

    /**
     * Marks in {@code taken} (indices into {@code order}) the blocks the region takes for what the
     * last {@link #match} named, oldest first until {@code k}. With {@link MemorySpec#span()}, the
     * tokens from {@code span} before each named point to {@code after} past it, in the blocks
     * they fall in (a span that would pass the budget is left out; {@link #from} and {@link #to}
     * bound each block's tokens). Without, each named block whole, with the block before it,
     * which holds what the named tokens continue, and the {@link MemorySpec#follow()} blocks after.
     *
     * @return how many blocks are taken
     */
    int choose(MemoryBlock[] order, int n, int k, boolean[] taken) {
        int picked = 0;
        for (int i = 0; i < namedCount; i++) {
            int b = named[i];
            if (spec.span() > 0) {
                // A span whose blocks are taken already still widens their bounds.
                picked += takeSpan(order, n, k - picked, namedToken[b], taken);
                continue;
            }
            if (picked >= k) {
                break;
            }
            for (int f = 0; f <= spec.follow() + 1 && picked < k; f++) {
                int d = f == 0 ? 0 : f == 1 ? -1 : f - 1;
                int c = b + d;
                if (c >= 0 && c < n && !taken[c] && order[c].index == order[b].index + d) {
                    taken[c] = true;
                    picked++;
                }
            }
        }
        return picked;
    }

    /** Takes the blocks of the span around session token {@code at}, if they fit in {@code room}. */
    private int takeSpan(MemoryBlock[] order, int n, int room, int at, boolean[] taken) {
        int lo = at - spec.span();
        int hi = at + spec.spanAfter() + 1;
        int need = 0;
        for (int c = 0; c < n; c++) {
            int first = order[c].index * blockTokens;
            if (!taken[c] && first < hi && first + blockTokens > lo) {
                need++;
            }
        }
        if (need > room) {
            return 0;
        }
        for (int c = 0; c < n; c++) {
            int first = order[c].index * blockTokens;
            if (first < hi && first + blockTokens > lo) {
                if (taken[c]) {
                    spanFrom[c] = Math.min(spanFrom[c], lo);
                    spanTo[c] = Math.max(spanTo[c], hi);
                } else {
                    taken[c] = true;
                    spanFrom[c] = lo;
                    spanTo[c] = hi;
                }
            }
        }
        return need;
    }

    /** The first session token of block {@code b} (an index into the order) that the region takes. */
    int from(int b) {
        return spec.span() > 0 ? spanFrom[b] : 0;
    }

    /** The token after the last of block {@code b} that the region takes, before {@code firstRecent}. */
    int to(int b, int firstRecent) {
        return spec.span() > 0 ? Math.min(firstRecent, spanTo[b]) : firstRecent;
    }

    /** Blocks named by the last {@link #match}, as indices into its order, oldest first. */
    int namedCount() {
        return namedCount;
    }
}
