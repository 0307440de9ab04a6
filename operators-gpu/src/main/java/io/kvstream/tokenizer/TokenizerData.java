package io.kvstream.tokenizer;

import javax.annotation.Nullable;

import java.util.List;

/**
 * A byte-level BPE vocabulary as a model file stores it, before it is turned into a tokenizer.
 *
 * @param tokens token strings by id, in GPT-2's byte-to-unicode alphabet
 * @param merges merge rules in priority order, each {@code "left right"}
 * @param tokenTypes GGUF token types by id: 1 normal, 2 unknown, 3 control, 4 user-defined, 5
 *     unused, 6 byte; control and user-defined tokens are matched in text before pre-tokenizing
 * @param preTokenizer GGUF {@code tokenizer.ggml.pre} name: {@code gpt-2}, {@code llama-bpe}
 *     (Llama 3), {@code qwen2}
 * @param bosId beginning-of-sequence id, or -1
 * @param eosId end-of-sequence (end of turn) id, or -1
 * @param chatTemplate Jinja chat template, if the file has one
 */
public record TokenizerData(
        List<String> tokens,
        List<String> merges,
        int[] tokenTypes,
        String preTokenizer,
        int bosId,
        int eosId,
        @Nullable String chatTemplate) {

    public static final int TYPE_NORMAL = 1;
    public static final int TYPE_UNKNOWN = 2;
    public static final int TYPE_CONTROL = 3;
    public static final int TYPE_USER_DEFINED = 4;
    public static final int TYPE_UNUSED = 5;
    public static final int TYPE_BYTE = 6;

    public TokenizerData {
        if (tokenTypes.length != tokens.size()) {
            throw new IllegalArgumentException(
                    String.format(
                            "%d token types for %d tokens", tokenTypes.length, tokens.size()));
        }
    }
}
