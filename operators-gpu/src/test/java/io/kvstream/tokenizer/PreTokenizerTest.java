package io.kvstream.tokenizer;

import org.junit.jupiter.api.Test;

import static io.kvstream.tokenizer.PreTokenizer.GPT2;
import static io.kvstream.tokenizer.PreTokenizer.LLAMA3;
import static io.kvstream.tokenizer.PreTokenizer.QWEN2;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Expected splits are what the same patterns give in Python's {@code regex} module (Unicode
 * {@code \s}, code-point classes), which agrees with Oniguruma as HF {@code tokenizers} runs it.
 */
class PreTokenizerTest {

    @Test
    void digits() {
        String s = "The passkey is 1234567.";
        assertThat(GPT2.split(s)).containsExactly("The", " passkey", " is", " 1234567", ".");
        assertThat(LLAMA3.split(s))
                .containsExactly("The", " passkey", " is", " ", "123", "456", "7", ".");
        assertThat(QWEN2.split(s))
                .containsExactly(
                        "The", " passkey", " is", " ", "1", "2", "3", "4", "5", "6", "7", ".");
        assertThat(LLAMA3.split("$100,000!!\n\n"))
                .containsExactly("$", "100", ",", "000", "!!\n\n");
        assertThat(QWEN2.split("$100,000!!\n\n"))
                .containsExactly("$", "1", "0", "0", ",", "0", "0", "0", "!!\n\n");
    }

    @Test
    void contractionsAreCaseInsensitiveOnlyForLlama3AndQwen2() {
        String s = "I'M here, you'LL see; it's 3.14";
        assertThat(GPT2.split(s))
                .containsExactly(
                        "I", "'", "M", " here", ",", " you", "'", "LL", " see", ";", " it", "'s",
                        " 3", ".", "14");
        assertThat(LLAMA3.split(s))
                .containsExactly(
                        "I", "'M", " here", ",", " you", "'LL", " see", ";", " it", "'s", " ", "3",
                        ".", "14");
        assertThat(QWEN2.split(s))
                .containsExactly(
                        "I", "'M", " here", ",", " you", "'LL", " see", ";", " it", "'s", " ", "3",
                        ".", "1", "4");
    }

    @Test
    void newlinesAndTrailingWhitespace() {
        String s = "line one\n\n  line two\r\n\tend  ";
        assertThat(GPT2.split(s))
                .containsExactly(
                        "line", " one", "\n\n ", " line", " two", "\r\n", "\t", "end", "  ");
        assertThat(LLAMA3.split(s))
                .containsExactly(
                        "line", " one", "\n\n", " ", " line", " two", "\r\n", "\tend", "  ");
        assertThat(QWEN2.split(s)).isEqualTo(LLAMA3.split(s));
        assertThat(GPT2.split("a  b   ")).containsExactly("a", " ", " b", "   ");
    }

    @Test
    void unicodeLettersSurrogatePairsAndUnicodeWhitespace() {
        String s = "naïve café 中文字 🙂🙂 x\u00a0y\u3000z";
        assertThat(GPT2.split(s))
                .containsExactly(
                        "naïve", " café", " 中文字", " 🙂🙂", " x", "\u00a0", "y", "\u3000", "z");
        assertThat(LLAMA3.split(s))
                .containsExactly("naïve", " café", " 中文字", " 🙂🙂", " x", "\u00a0y", "\u3000z");
        // With Java's default ASCII \s, NBSP would be punctuation and "\u00a0\u00a0" one piece.
        assertThat(GPT2.split("x\u00a0\u00a0y")).containsExactly("x", "\u00a0", "\u00a0", "y");
        assertThat(LLAMA3.split("x\u00a0\u00a0y")).containsExactly("x", "\u00a0", "\u00a0y");
        assertThat(LLAMA3.split("x\u2003\u2003")).containsExactly("x", "\u2003\u2003");
    }

    @Test
    void piecesCoverTheInputExactly() {
        String s = "mixed 12ab\n\n\t 'll ✓✓ \uD83D\uDE42x";
        for (PreTokenizer p : PreTokenizer.values()) {
            assertThat(String.join("", p.split(s))).as(p.ggufName()).isEqualTo(s);
        }
    }

    @Test
    void unknownNameFailsClearly() {
        assertThat(PreTokenizer.forName("llama-bpe")).isSameAs(LLAMA3);
        assertThatThrownBy(() -> PreTokenizer.forName("falcon"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("Unsupported pre-tokenizer 'falcon'; supported: [gpt-2, llama-bpe, qwen2]");
    }
}
