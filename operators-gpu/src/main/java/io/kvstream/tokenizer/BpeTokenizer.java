package io.kvstream.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;

/**
 * Byte-level BPE as GPT-2 and Hugging Face {@code tokenizers} do it: special tokens are cut out of
 * the text first (longest match wins), every remaining span is split by the {@link PreTokenizer}
 * regex, each piece's UTF-8 bytes become single-byte tokens, and merges are applied lowest rank
 * first (leftmost first among equal ranks), as HF's priority queue does.
 *
 * <p>Built from {@link TokenizerData} only, so a GGUF file and {@code tokenizer.json} go through
 * the same code. Immutable apart from a bounded per-piece cache; safe to share between threads.
 */
public final class BpeTokenizer {

    /** Pieces repeat a lot in chat text ("<|end|>" neighbours, common words); bounded anyway. */
    private static final int CACHE_LIMIT = 1 << 16;

    private final String[] tokens;
    private final Map<String, Integer> ids;
    /** Bytes each token decodes to; null for a byte-level token with characters outside the map. */
    private final byte[][] tokenBytes;

    private final boolean[] special;
    /** Special token texts, longest first so the first hit at a position is the longest match. */
    private final String[] specialTexts;

    private final int[] specialIds;
    private final BitSet specialFirstChars = new BitSet();

    /** Single-byte token ids, -1 where the vocabulary lacks the byte. */
    private final int[] byteIds = new int[256];

    private final PairTable mergeRanks;
    /** Merged token id by merge rank. */
    private final int[] mergeResults;

    private final PreTokenizer preTokenizer;
    private final int bosId;
    private final int eosId;

    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    public BpeTokenizer(TokenizerData data) {
        int n = data.tokens().size();
        this.tokens = data.tokens().toArray(new String[0]);
        this.preTokenizer = PreTokenizer.forName(data.preTokenizer());
        this.bosId = checkOptionalId("BOS", data.bosId(), n);
        this.eosId = checkOptionalId("EOS", data.eosId(), n);

        this.ids = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            // Some GGUF vocabularies repeat filler strings; the first id is the one text maps to.
            ids.putIfAbsent(tokens[i], i);
        }

        this.special = new boolean[n];
        this.tokenBytes = new byte[n][];
        List<Integer> specialList = new ArrayList<>();
        int[] types = data.tokenTypes();
        for (int i = 0; i < n; i++) {
            boolean isSpecial =
                    types[i] == TokenizerData.TYPE_CONTROL
                            || types[i] == TokenizerData.TYPE_USER_DEFINED;
            special[i] = isSpecial;
            if (isSpecial) {
                tokenBytes[i] = tokens[i].getBytes(StandardCharsets.UTF_8);
                if (!tokens[i].isEmpty()) {
                    specialList.add(i);
                }
            } else {
                tokenBytes[i] = toBytes(tokens[i]);
            }
        }
        specialList.sort((a, b) -> Integer.compare(tokens[b].length(), tokens[a].length()));
        this.specialIds = new int[specialList.size()];
        this.specialTexts = new String[specialList.size()];
        for (int i = 0; i < specialIds.length; i++) {
            specialIds[i] = specialList.get(i);
            specialTexts[i] = tokens[specialIds[i]];
            specialFirstChars.set(specialTexts[i].charAt(0));
        }

        for (int b = 0; b < 256; b++) {
            Integer id = ids.get(String.valueOf(ByteLevel.byteToChar(b)));
            byteIds[b] = id == null ? -1 : id;
        }

        List<String> merges = data.merges();
        this.mergeRanks = new PairTable(merges.size());
        this.mergeResults = new int[merges.size()];
        for (int rank = 0; rank < merges.size(); rank++) {
            String merge = merges.get(rank);
            // Like llama.cpp: the separator is the first space after the first character.
            int space = merge.indexOf(' ', 1);
            if (space < 0) {
                throw new IllegalArgumentException(
                        String.format("Merge %d '%s' is not of the form 'left right'", rank, merge));
            }
            String left = merge.substring(0, space);
            String right = merge.substring(space + 1);
            int leftId = requireMergeToken(rank, merge, left);
            int rightId = requireMergeToken(rank, merge, right);
            int mergedId = requireMergeToken(rank, merge, left + right);
            // A repeated merge keeps its first (higher priority) rank, as HF's map does.
            if (mergeRanks.get(leftId, rightId) < 0) {
                mergeRanks.put(leftId, rightId, rank);
            }
            mergeResults[rank] = mergedId;
        }
    }

    // ---------------------------------------------------------------------------------------
    // Vocabulary
    // ---------------------------------------------------------------------------------------

    public int vocabularySize() {
        return tokens.length;
    }

    /** The token's string as the vocabulary stores it (byte-level alphabet for normal tokens). */
    public String token(int id) {
        checkId(id);
        return tokens[id];
    }

    /** Whether the token is a control or user-defined token, matched as text before BPE. */
    public boolean isSpecial(int id) {
        checkId(id);
        return special[id];
    }

    /** The id of a special token by its text, e.g. {@code <|end|>}. */
    public int specialId(String text) {
        for (int i = 0; i < specialTexts.length; i++) {
            if (specialTexts[i].equals(text)) {
                return specialIds[i];
            }
        }
        throw new IllegalArgumentException(
                String.format("No special token '%s' in the vocabulary", text));
    }

    /** Beginning-of-sequence id, or -1. */
    public int bosId() {
        return bosId;
    }

    /** End-of-sequence (end of turn) id, or -1. */
    public int eosId() {
        return eosId;
    }

    public PreTokenizer preTokenizer() {
        return preTokenizer;
    }

    // ---------------------------------------------------------------------------------------
    // Encoding
    // ---------------------------------------------------------------------------------------

    /** Token ids for the text; special tokens in the text become their ids. Adds no BOS. */
    public int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        int spanStart = 0;
        int i = 0;
        int n = text.length();
        while (i < n) {
            if (specialFirstChars.get(text.charAt(i))) {
                int s = matchSpecial(text, i);
                if (s >= 0) {
                    encodeOrdinary(text, spanStart, i, out);
                    out.add(specialIds[s]);
                    i += specialTexts[s].length();
                    spanStart = i;
                    continue;
                }
            }
            i++;
        }
        encodeOrdinary(text, spanStart, n, out);
        return out.toArray();
    }

    private int matchSpecial(String text, int at) {
        for (int s = 0; s < specialTexts.length; s++) {
            if (text.startsWith(specialTexts[s], at)) {
                return s;
            }
        }
        return -1;
    }

    private void encodeOrdinary(String text, int from, int to, IntList out) {
        if (from == to) {
            return;
        }
        // Opaque region bounds: the lookahead in \s+(?!\S) must not see past a special token,
        // because HF runs the pre-tokenizer on each span between special tokens on its own.
        Matcher m = preTokenizer.pattern().matcher(text).region(from, to);
        int end = from;
        while (m.find()) {
            PreTokenizer.checkContiguous(text, end, m.start());
            String piece = text.substring(m.start(), m.end());
            int[] pieceIds = cache.get(piece);
            if (pieceIds == null) {
                pieceIds = bpe(piece);
                if (cache.size() >= CACHE_LIMIT) {
                    cache.clear();
                }
                cache.put(piece, pieceIds);
            }
            out.addAll(pieceIds);
            end = m.end();
        }
        PreTokenizer.checkContiguous(text, end, to);
    }

    /** Merges one pre-tokenized piece: a linked list of symbols and a heap of candidate pairs. */
    private int[] bpe(String piece) {
        byte[] bytes = utf8(piece);
        int n = bytes.length;
        int[] sym = new int[n];
        for (int k = 0; k < n; k++) {
            int id = byteIds[bytes[k] & 0xFF];
            if (id < 0) {
                throw new IllegalArgumentException(
                        String.format(
                                "Byte 0x%02X of %s has no token ('%s' is not in the vocabulary)",
                                bytes[k] & 0xFF,
                                PreTokenizer.abbreviate(piece),
                                ByteLevel.byteToChar(bytes[k])));
            }
            sym[k] = id;
        }
        if (n == 1) {
            return sym;
        }
        int[] prev = new int[n];
        int[] next = new int[n];
        // Each merge pushes at most two pairs: n - 1 initial plus 2 per merge (at most n - 1).
        LongHeap heap = new LongHeap(3 * n);
        for (int k = 0; k < n; k++) {
            prev[k] = k - 1;
            next[k] = k + 1 < n ? k + 1 : -1;
            if (k + 1 < n) {
                pushPair(heap, sym[k], sym[k + 1], k);
            }
        }
        int alive = n;
        while (!heap.isEmpty()) {
            long entry = heap.pop();
            int rank = (int) (entry >>> 32);
            int pos = (int) entry;
            int right = next[pos];
            // Stale entries (a side already merged away or changed) are skipped lazily.
            if (sym[pos] < 0 || right < 0 || mergeRanks.get(sym[pos], sym[right]) != rank) {
                continue;
            }
            sym[pos] = mergeResults[rank];
            sym[right] = -1;
            next[pos] = next[right];
            if (next[pos] >= 0) {
                prev[next[pos]] = pos;
            }
            alive--;
            if (prev[pos] >= 0) {
                pushPair(heap, sym[prev[pos]], sym[pos], prev[pos]);
            }
            if (next[pos] >= 0) {
                pushPair(heap, sym[pos], sym[next[pos]], pos);
            }
        }
        int[] result = new int[alive];
        int r = 0;
        // Merges only ever remove the right symbol, so position 0 stays the head of the list.
        for (int k = 0; k >= 0; k = next[k]) {
            result[r++] = sym[k];
        }
        return result;
    }

    private void pushPair(LongHeap heap, int left, int right, int pos) {
        int rank = mergeRanks.get(left, right);
        if (rank >= 0) {
            heap.push(((long) rank << 32) | pos);
        }
    }

    /** UTF-8 of a piece; Java strings can hold unpaired surrogates, Rust strings cannot. */
    private static byte[] utf8(String s) {
        byte[] out = new byte[s.length() * 3];
        int o = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                out[o++] = (byte) c;
            } else if (c < 0x800) {
                out[o++] = (byte) (0xC0 | (c >> 6));
                out[o++] = (byte) (0x80 | (c & 0x3F));
            } else if (Character.isSurrogate(c)) {
                if (!Character.isHighSurrogate(c)
                        || i + 1 >= s.length()
                        || !Character.isLowSurrogate(s.charAt(i + 1))) {
                    throw new IllegalArgumentException(
                            String.format(
                                    "Unpaired surrogate U+%04X at index %d of %s",
                                    (int) c, i, PreTokenizer.abbreviate(s)));
                }
                int cp = Character.toCodePoint(c, s.charAt(++i));
                out[o++] = (byte) (0xF0 | (cp >> 18));
                out[o++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
                out[o++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (byte) (0x80 | (cp & 0x3F));
            } else {
                out[o++] = (byte) (0xE0 | (c >> 12));
                out[o++] = (byte) (0x80 | ((c >> 6) & 0x3F));
                out[o++] = (byte) (0x80 | (c & 0x3F));
            }
        }
        return Arrays.copyOf(out, o);
    }

    // ---------------------------------------------------------------------------------------
    // Decoding
    // ---------------------------------------------------------------------------------------

    /**
     * The text of the ids; special tokens decode to their text. Invalid UTF-8 (a character cut
     * off at either end) becomes U+FFFD, as HF's lossy decoding does.
     */
    public String decode(int[] ids) {
        ByteBuffer buf = new ByteBuffer(ids.length * 4);
        for (int id : ids) {
            buf.add(bytesOf(id));
        }
        return new String(buf.bytes, 0, buf.length, StandardCharsets.UTF_8);
    }

    /** A decoder for one generated sequence; not thread-safe. */
    public StreamingDecoder newStreamingDecoder() {
        return new StreamingDecoder();
    }

    private byte[] bytesOf(int id) {
        checkId(id);
        byte[] b = tokenBytes[id];
        if (b == null) {
            throw new IllegalArgumentException(
                    String.format(
                            "Token %d '%s' has characters outside the byte-level alphabet",
                            id, tokens[id]));
        }
        return b;
    }

    /**
     * Turns ids into text one id at a time. A UTF-8 character split across tokens (emoji, CJK
     * in small vocabularies) is held back until its last byte arrives and emitted once.
     */
    public final class StreamingDecoder {
        private final ByteBuffer pending = new ByteBuffer(8);

        private StreamingDecoder() {}

        /** Adds one id; returns the text that became complete, possibly empty. */
        public String feed(int id) {
            pending.add(bytesOf(id));
            int cut = completePrefix(pending.bytes, pending.length);
            if (cut == 0) {
                return "";
            }
            String text = new String(pending.bytes, 0, cut, StandardCharsets.UTF_8);
            pending.dropPrefix(cut);
            return text;
        }

        /** Returns what is left (an unfinished character becomes U+FFFD) and resets. */
        public String flush() {
            String text = new String(pending.bytes, 0, pending.length, StandardCharsets.UTF_8);
            pending.length = 0;
            return text;
        }
    }

    /**
     * Length of the prefix that can be decoded now: everything except a trailing multi-byte
     * sequence whose lead byte promises more bytes than have arrived. Invalid sequences are not
     * held back; they decode to U+FFFD straight away.
     */
    static int completePrefix(byte[] b, int length) {
        int lead = length - 1;
        // At most 3 continuation bytes can belong to one character.
        while (lead >= 0 && length - lead <= 4 && (b[lead] & 0xC0) == 0x80) {
            lead--;
        }
        if (lead < 0 || length - lead > 4) {
            return length;
        }
        int first = b[lead] & 0xFF;
        int needed;
        if (first >= 0xC2 && first <= 0xDF) {
            needed = 2;
        } else if (first >= 0xE0 && first <= 0xEF) {
            needed = 3;
        } else if (first >= 0xF0 && first <= 0xF4) {
            needed = 4;
        } else {
            return length;
        }
        return length - lead < needed ? lead : length;
    }

    // ---------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------

    private void checkId(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException(
                    String.format("Token id %d is outside the vocabulary [0, %d)", id, tokens.length));
        }
    }

    private static int checkOptionalId(String what, int id, int vocabularySize) {
        if (id < -1 || id >= vocabularySize) {
            throw new IllegalArgumentException(
                    String.format(
                            "%s id %d is outside the vocabulary [0, %d)", what, id, vocabularySize));
        }
        return id;
    }

    private int requireMergeToken(int rank, String merge, String token) {
        Integer id = ids.get(token);
        if (id == null) {
            throw new IllegalArgumentException(
                    String.format(
                            "Merge %d '%s' refers to '%s', which is not in the vocabulary",
                            rank, merge, token));
        }
        return id;
    }

    /** Bytes of a byte-level token string, or null if a character stands for no byte. */
    private static byte[] toBytes(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = ByteLevel.charToByte(token.charAt(i));
            if (b < 0) {
                return null;
            }
            out[i] = (byte) b;
        }
        return out;
    }

    /** Open-addressing map from a pair of token ids to a merge rank, without boxing. */
    private static final class PairTable {
        private final long[] keys;
        private final int[] values;
        private final int mask;

        PairTable(int expected) {
            int capacity = Integer.highestOneBit(Math.max(4, expected * 2) - 1) << 1;
            keys = new long[capacity];
            Arrays.fill(keys, -1L);
            values = new int[capacity];
            mask = capacity - 1;
        }

        private static long key(int left, int right) {
            return ((long) left << 32) | (right & 0xFFFFFFFFL);
        }

        private int slot(long key) {
            long h = key * 0x9E3779B97F4A7C15L;
            return (int) (h >>> 32) & mask;
        }

        void put(int left, int right, int value) {
            long k = key(left, right);
            int s = slot(k);
            while (keys[s] != -1L && keys[s] != k) {
                s = (s + 1) & mask;
            }
            keys[s] = k;
            values[s] = value;
        }

        /** The value, or -1. */
        int get(int left, int right) {
            long k = key(left, right);
            int s = slot(k);
            while (true) {
                long at = keys[s];
                if (at == k) {
                    return values[s];
                }
                if (at == -1L) {
                    return -1;
                }
                s = (s + 1) & mask;
            }
        }
    }

    /** Binary min-heap of longs. */
    private static final class LongHeap {
        private final long[] heap;
        private int size;

        LongHeap(int capacity) {
            heap = new long[Math.max(1, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= v) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = v;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }

    private static final class IntList {
        private int[] values;
        private int size;

        IntList(int capacity) {
            values = new int[capacity];
        }

        void add(int v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        void addAll(int[] vs) {
            if (size + vs.length > values.length) {
                values = Arrays.copyOf(values, Math.max(size * 2, size + vs.length));
            }
            System.arraycopy(vs, 0, values, size, vs.length);
            size += vs.length;
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    private static final class ByteBuffer {
        private byte[] bytes;
        private int length;

        ByteBuffer(int capacity) {
            bytes = new byte[Math.max(4, capacity)];
        }

        void add(byte[] b) {
            if (length + b.length > bytes.length) {
                bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, length + b.length));
            }
            System.arraycopy(b, 0, bytes, length, b.length);
            length += b.length;
        }

        void dropPrefix(int n) {
            System.arraycopy(bytes, n, bytes, 0, length - n);
            length -= n;
        }
    }
}
