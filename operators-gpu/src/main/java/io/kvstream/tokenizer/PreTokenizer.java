package io.kvstream.tokenizer;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The regex split that byte-level BPE applies to text between special tokens, by GGUF {@code
 * tokenizer.ggml.pre} name.
 *
 * <p>The patterns are the ones Hugging Face {@code tokenizers} runs (with Oniguruma). They are
 * compiled with {@link Pattern#UNICODE_CHARACTER_CLASS} because Java's {@code \s} is ASCII-only
 * otherwise, while Oniguruma's matches every Unicode White_Space character (NBSP, U+2000..,
 * U+3000). Java's regex engine works on code points, so a surrogate pair is one character to
 * {@code \p{L}} or {@code [^\s\p{L}\p{N}]}, as it is in Rust.
 */
public enum PreTokenizer {
    GPT2(
            "gpt-2",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"),
    LLAMA3(
            "llama-bpe",
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
                    + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
    QWEN2(
            "qwen2",
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
                    + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");

    private final String ggufName;
    private final String regex;
    private final Pattern pattern;

    PreTokenizer(String ggufName, String regex) {
        this.ggufName = ggufName;
        this.regex = regex;
        this.pattern = Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    }

    /** The GGUF {@code tokenizer.ggml.pre} name. */
    public String ggufName() {
        return ggufName;
    }

    /** The pattern as Hugging Face writes it in {@code tokenizer.json}. */
    public String regex() {
        return regex;
    }

    Pattern pattern() {
        return pattern;
    }

    /** Splits text (which must not contain special tokens) into the pieces BPE runs on. */
    public List<String> split(String text) {
        List<String> pieces = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        int end = 0;
        while (m.find()) {
            checkContiguous(text, end, m.start());
            pieces.add(m.group());
            end = m.end();
        }
        checkContiguous(text, end, text.length());
        return pieces;
    }

    // Every pattern ends in \s+ after classes that cover everything else, so no text can fall
    // between matches; if it ever did, dropping it silently would lose input.
    static void checkContiguous(String text, int from, int to) {
        if (from != to) {
            throw new IllegalStateException(
                    String.format(
                            "Pre-tokenizer left characters %d..%d unmatched in %s",
                            from, to, abbreviate(text)));
        }
    }

    /** Looks up a GGUF {@code tokenizer.ggml.pre} name. */
    public static PreTokenizer forName(String ggufName) {
        for (PreTokenizer p : values()) {
            if (p.ggufName.equals(ggufName)) {
                return p;
            }
        }
        throw new IllegalArgumentException(
                String.format(
                        "Unsupported pre-tokenizer '%s'; supported: %s",
                        ggufName, supportedNames()));
    }

    /** The pre-tokenizer whose Hugging Face {@code Split} pattern is exactly this one, if any. */
    @Nullable
    static PreTokenizer forRegex(String regex) {
        for (PreTokenizer p : values()) {
            if (p.regex.equals(regex)) {
                return p;
            }
        }
        return null;
    }

    static List<String> supportedNames() {
        List<String> names = new ArrayList<>();
        for (PreTokenizer p : values()) {
            names.add(p.ggufName);
        }
        return names;
    }

    static String abbreviate(String text) {
        return text.length() <= 60 ? '"' + text + '"' : '"' + text.substring(0, 57) + "...\"";
    }
}
