package io.kvstream.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BpeTokenizerTest {

    @Test
    void encodesEveryGoldenStringToHuggingFaceIds() throws Exception {
        BpeTokenizer tokenizer = new BpeTokenizer(RefModelFiles.tokenizerData());
        JsonNode golden =
                new ObjectMapper()
                        .readTree(RefModelFiles.dir().resolve("tokenizer-golden.json").toFile());
        assertThat(golden.size()).isEqualTo(46);
        List<String> mismatches = new ArrayList<>();
        for (JsonNode c : golden) {
            String text = c.get("text").asText();
            int[] expected = new int[c.get("ids").size()];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = c.get("ids").get(i).asInt();
            }
            int[] actual = tokenizer.encode(text);
            if (!java.util.Arrays.equals(expected, actual)) {
                mismatches.add(
                        String.format(
                                "%s: expected %s got %s",
                                text,
                                java.util.Arrays.toString(expected),
                                java.util.Arrays.toString(actual)));
            }
            assertThat(tokenizer.decode(actual)).isEqualTo(text);
        }
        assertThat(mismatches).isEmpty();
    }

    @Test
    void specialTokensAreMatchedBeforeBpeAndDecodeToTheirText() {
        BpeTokenizer tokenizer = new BpeTokenizer(RefModelFiles.tokenizerData());
        int user = tokenizer.specialId("<|user|>");
        int end = tokenizer.specialId("<|end|>");
        assertThat(tokenizer.eosId()).isEqualTo(end).isEqualTo(5);
        assertThat(tokenizer.bosId()).isEqualTo(tokenizer.specialId("<|bos|>"));
        int[] ids = tokenizer.encode("<|user|>hi<|end|>");
        assertThat(ids[0]).isEqualTo(user);
        assertThat(ids[ids.length - 1]).isEqualTo(end);
        // A broken special token is ordinary text.
        int[] broken = tokenizer.encode("<|user|");
        assertThat(broken).doesNotContain(user);
        assertThat(tokenizer.decode(broken)).isEqualTo("<|user|");
        assertThat(tokenizer.isSpecial(end)).isTrue();
        assertThat(tokenizer.isSpecial(broken[0])).isFalse();
    }

    @Test
    void longestSpecialTokenWins() {
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.byteToChar(b)));
        }
        tokens.add("<a>");
        tokens.add("<a><b>");
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, TokenizerData.TYPE_NORMAL);
        types[256] = TokenizerData.TYPE_CONTROL;
        types[257] = TokenizerData.TYPE_USER_DEFINED;
        BpeTokenizer tokenizer =
                new BpeTokenizer(
                        new TokenizerData(tokens, List.of(), types, "gpt-2", -1, -1, null));
        assertThat(tokenizer.encode("x<a><b><a>")).containsExactly('x', 257, 256);
    }

    @Test
    void mergesApplyLowestRankFirstNotLeftToRight() {
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.byteToChar(b)));
        }
        tokens.add("bc"); // 256
        tokens.add("ab"); // 257
        tokens.add("abc"); // 258, reachable only through "ab" + "c"
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, TokenizerData.TYPE_NORMAL);
        BpeTokenizer bcFirst =
                new BpeTokenizer(
                        new TokenizerData(
                                tokens, List.of("b c", "a b", "ab c"), types, "gpt-2", -1, -1, null));
        assertThat(bcFirst.encode("abc")).containsExactly('a', 256);
        BpeTokenizer abFirst =
                new BpeTokenizer(
                        new TokenizerData(
                                tokens, List.of("a b", "b c", "ab c"), types, "gpt-2", -1, -1, null));
        assertThat(abFirst.encode("abc")).containsExactly(258);
        // Equal pairs merge from the left: "aaa" with "a a" gives [aa, a].
        tokens.add("aa"); // 259
        types = java.util.Arrays.copyOf(types, tokens.size());
        types[259] = TokenizerData.TYPE_NORMAL;
        BpeTokenizer aa =
                new BpeTokenizer(
                        new TokenizerData(tokens, List.of("a a"), types, "gpt-2", -1, -1, null));
        assertThat(aa.encode("aaaaa")).containsExactly(259, 259, 'a');
    }

    @Test
    void multiByteCharacterSplitAcrossTokensIsStreamedOnceWhenComplete() {
        BpeTokenizer tokenizer = new BpeTokenizer(RefModelFiles.tokenizerData());
        String text = "ok 🙂 中文 ✓!";
        int[] ids = tokenizer.encode(text);
        // The test means something only if some character really is split across tokens.
        int splitTokens = 0;
        for (int id : ids) {
            String piece = tokenizer.decode(new int[] {id});
            if (piece.indexOf('\uFFFD') >= 0) {
                splitTokens++;
            }
        }
        assertThat(splitTokens).isGreaterThan(1);

        BpeTokenizer.StreamingDecoder decoder = tokenizer.newStreamingDecoder();
        List<String> emitted = new ArrayList<>();
        for (int id : ids) {
            String out = decoder.feed(id);
            if (!out.isEmpty()) {
                emitted.add(out);
            }
        }
        emitted.add(decoder.flush());
        assertThat(String.join("", emitted)).isEqualTo(text);
        assertThat(emitted).noneMatch(s -> s.indexOf('\uFFFD') >= 0);
        assertThat(emitted).filteredOn(s -> s.contains("🙂")).hasSize(1);
        assertThat(emitted).filteredOn(s -> s.contains("中")).hasSize(1);
    }

    @Test
    void streamingDecoderFlushesAnUnfinishedCharacterAsReplacement() {
        BpeTokenizer tokenizer = new BpeTokenizer(RefModelFiles.tokenizerData());
        byte[] emoji = "🙂".getBytes(StandardCharsets.UTF_8);
        int firstByte = tokenizer.encode("🙂")[0];
        assertThat(tokenizer.token(firstByte))
                .isEqualTo(String.valueOf(ByteLevel.byteToChar(emoji[0])));
        BpeTokenizer.StreamingDecoder decoder = tokenizer.newStreamingDecoder();
        assertThat(decoder.feed(firstByte)).isEmpty();
        // A special token cannot continue the character: the stub becomes U+FFFD right away.
        assertThat(decoder.feed(tokenizer.eosId())).isEqualTo("\uFFFD<|end|>");
        assertThat(decoder.feed(firstByte)).isEmpty();
        assertThat(decoder.flush()).isEqualTo("\uFFFD");
        assertThat(decoder.flush()).isEmpty();
    }

    @Test
    void completePrefixHoldsBackOnlyAnUnfinishedTrailingSequence() {
        byte[] b = "a中".getBytes(StandardCharsets.UTF_8); // 61 E4 B8 AD
        assertThat(BpeTokenizer.completePrefix(b, 1)).isEqualTo(1);
        assertThat(BpeTokenizer.completePrefix(b, 2)).isEqualTo(1);
        assertThat(BpeTokenizer.completePrefix(b, 3)).isEqualTo(1);
        assertThat(BpeTokenizer.completePrefix(b, 4)).isEqualTo(4);
        byte[] stray = {(byte) 0x80, (byte) 0x80};
        assertThat(BpeTokenizer.completePrefix(stray, 2)).isEqualTo(2);
    }

    @Test
    void failsClearlyOnBadInput() {
        BpeTokenizer tokenizer = new BpeTokenizer(RefModelFiles.tokenizerData());
        assertThatThrownBy(() -> tokenizer.decode(new int[] {tokenizer.vocabularySize()}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("outside the vocabulary");
        assertThatThrownBy(() -> tokenizer.encode("a\uD83Db"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Unpaired surrogate U+D83D");
        assertThatThrownBy(() -> tokenizer.specialId("<|nope|>"))
                .hasMessageContaining("<|nope|>");
    }

    @Test
    void unknownPreTokenizerFailsClearly() {
        TokenizerData d = RefModelFiles.tokenizerData();
        TokenizerData other =
                new TokenizerData(
                        d.tokens(), d.merges(), d.tokenTypes(), "deepseek-llm", 1, 5, null);
        assertThatThrownBy(() -> new BpeTokenizer(other))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'deepseek-llm'")
                .hasMessageContaining("gpt-2, llama-bpe, qwen2");
    }

    @Test
    void missingByteOrMergeTokenFailsClearly() {
        List<String> tokens = new ArrayList<>(List.of("a", "b"));
        int[] types = {TokenizerData.TYPE_NORMAL, TokenizerData.TYPE_NORMAL};
        assertThatThrownBy(
                        () ->
                                new BpeTokenizer(
                                        new TokenizerData(
                                                tokens, List.of("a b"), types, "gpt-2", -1, -1, null)))
                .hasMessageContaining("Merge 0 'a b' refers to 'ab'");
        BpeTokenizer small =
                new BpeTokenizer(new TokenizerData(tokens, List.of(), types, "gpt-2", -1, -1, null));
        assertThat(small.encode("ab")).containsExactly(0, 1);
        assertThatThrownBy(() -> small.encode("abc"))
                .hasMessageContaining("Byte 0x63")
                .hasMessageContaining("not in the vocabulary");
    }
}
