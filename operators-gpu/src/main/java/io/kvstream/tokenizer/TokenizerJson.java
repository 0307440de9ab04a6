package io.kvstream.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} (byte-level BPE only) and optionally its {@code
 * tokenizer_config.json} into {@link TokenizerData}, the form a GGUF file gives, so that both go
 * through {@link BpeTokenizer}.
 */
public final class TokenizerJson {

    private static final Logger LOG = LoggerFactory.getLogger(TokenizerJson.class);

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private TokenizerJson() {}

    /**
     * @param tokenizerJson {@code tokenizer.json}
     * @param tokenizerConfigJson {@code tokenizer_config.json} for the chat template and BOS/EOS
     *     tokens; without it they are absent (-1, null). A {@code chat_template.jinja} beside it is
     *     used when the config has no template, as newer transformers versions write it there.
     */
    public static TokenizerData read(Path tokenizerJson, @Nullable Path tokenizerConfigJson)
            throws IOException {
        JsonNode root = MAPPER.readTree(tokenizerJson.toFile());
        try {
            return parse(root, tokenizerConfigJson);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    String.format("Cannot read %s: %s", tokenizerJson, e.getMessage()), e);
        }
    }

    private static TokenizerData parse(JsonNode root, @Nullable Path configPath)
            throws IOException {
        JsonNode model = root.path("model");
        String type = model.path("type").asText("");
        if (!type.equals("BPE")) {
            throw new IllegalArgumentException(
                    String.format("model.type is '%s'; only byte-level 'BPE' is supported", type));
        }
        rejectIfSet(model, "continuing_subword_prefix");
        rejectIfSet(model, "end_of_word_suffix");
        if (model.path("byte_fallback").asBoolean(false)) {
            throw new IllegalArgumentException(
                    "model.byte_fallback is set (a SentencePiece-style BPE); only byte-level BPE is"
                            + " supported");
        }
        JsonNode normalizer = root.path("normalizer");
        if (!normalizer.isMissingNode() && !normalizer.isNull()) {
            // llama.cpp ignores it too (GGUF has no normalizer); NFC input is unaffected.
            LOG.warn(
                    "tokenizer.json normalizer {} is not applied; text must already be normalized",
                    normalizer.path("type").asText(normalizer.toString()));
        }

        // Vocabulary plus added tokens, by id.
        List<String> tokens = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> vocab = model.path("vocab").fields();
        while (vocab.hasNext()) {
            Map.Entry<String, JsonNode> e = vocab.next();
            setToken(tokens, e.getValue().asInt(-1), e.getKey());
        }
        if (tokens.isEmpty()) {
            throw new IllegalArgumentException("model.vocab is missing or empty");
        }
        List<int[]> addedTypes = new ArrayList<>();
        for (JsonNode added : root.path("added_tokens")) {
            int id = added.path("id").asInt(-1);
            String content = added.path("content").asText(null);
            if (content == null) {
                throw new IllegalArgumentException(
                        String.format("added_tokens entry %s has no content", added));
            }
            setToken(tokens, id, content);
            addedTypes.add(
                    new int[] {
                        id,
                        added.path("special").asBoolean(false)
                                ? TokenizerData.TYPE_CONTROL
                                : TokenizerData.TYPE_USER_DEFINED
                    });
        }
        for (int i = 0; i < tokens.size(); i++) {
            if (tokens.get(i) == null) {
                throw new IllegalArgumentException(
                        String.format("No token has id %d (ids must be 0..%d)", i, tokens.size() - 1));
            }
        }
        int[] typesById = new int[tokens.size()];
        Arrays.fill(typesById, TokenizerData.TYPE_NORMAL);
        for (int[] t : addedTypes) {
            typesById[t[0]] = t[1];
        }

        List<String> merges = new ArrayList<>();
        for (JsonNode merge : model.path("merges")) {
            if (merge.isTextual()) {
                merges.add(merge.asText());
            } else if (merge.isArray() && merge.size() == 2) {
                String left = merge.get(0).asText();
                String right = merge.get(1).asText();
                // TokenizerData keeps GGUF's "left right" form; byte-level tokens never hold a
                // space (it is Ġ), so a space here means some other kind of vocabulary.
                if (left.indexOf(' ') >= 0 || right.indexOf(' ') >= 0) {
                    throw new IllegalArgumentException(
                            String.format("Merge %s has a token with a space", merge));
                }
                merges.add(left + ' ' + right);
            } else {
                throw new IllegalArgumentException(
                        String.format(
                                "Merge %s is neither \"left right\" nor [\"left\", \"right\"]",
                                merge));
            }
        }

        String pre = preTokenizerName(root.path("pre_tokenizer"));

        int bosId = -1;
        int eosId = -1;
        String template = null;
        if (configPath != null) {
            JsonNode config = MAPPER.readTree(configPath.toFile());
            bosId = specialTokenId(config, "bos_token", tokens);
            eosId = specialTokenId(config, "eos_token", tokens);
            template = chatTemplate(config);
            Path jinja = configPath.resolveSibling("chat_template.jinja");
            if (template == null && Files.isRegularFile(jinja)) {
                template = Files.readString(jinja, StandardCharsets.UTF_8);
            }
        }
        return new TokenizerData(tokens, merges, typesById, pre, bosId, eosId, template);
    }

    /** GGUF {@code tokenizer.ggml.pre} name for a {@code pre_tokenizer} section. */
    static String preTokenizerName(JsonNode pre) {
        String type = pre.path("type").asText("");
        if (type.equals("ByteLevel")) {
            checkByteLevel(pre, true);
            return PreTokenizer.GPT2.ggufName();
        }
        if (type.equals("Sequence")) {
            JsonNode steps = pre.path("pretokenizers");
            if (steps.size() == 2
                    && steps.get(0).path("type").asText("").equals("Split")
                    && steps.get(1).path("type").asText("").equals("ByteLevel")) {
                checkByteLevel(steps.get(1), false);
                JsonNode split = steps.get(0);
                String regex = split.path("pattern").path("Regex").asText(null);
                String behavior = split.path("behavior").asText("");
                PreTokenizer p = regex == null ? null : PreTokenizer.forRegex(regex);
                if (p != null && behavior.equals("Isolated") && !split.path("invert").asBoolean()) {
                    return p.ggufName();
                }
                throw new IllegalArgumentException(
                        String.format(
                                "pre_tokenizer Split %s is none of the supported patterns (%s)",
                                split, PreTokenizer.supportedNames()));
            }
        }
        throw new IllegalArgumentException(
                String.format(
                        "Unsupported pre_tokenizer %s; supported: ByteLevel with use_regex, or"
                                + " Sequence[Split(Llama 3 or Qwen2 pattern), ByteLevel]",
                        pre));
    }

    private static void checkByteLevel(JsonNode byteLevel, boolean regexExpected) {
        if (byteLevel.path("add_prefix_space").asBoolean(false)) {
            throw new IllegalArgumentException(
                    String.format("pre_tokenizer %s adds a prefix space; not supported", byteLevel));
        }
        if (byteLevel.path("use_regex").asBoolean(true) != regexExpected) {
            throw new IllegalArgumentException(
                    String.format(
                            "pre_tokenizer ByteLevel %s: use_regex must be %s here",
                            byteLevel, regexExpected));
        }
    }

    private static int specialTokenId(JsonNode config, String key, List<String> tokens) {
        JsonNode value = config.path(key);
        // Older configs store AddedToken objects: {"content": "<s>", ...}.
        String text = value.isObject() ? value.path("content").asText(null) : value.asText(null);
        if (value.isMissingNode() || value.isNull() || text == null) {
            return -1;
        }
        int id = tokens.indexOf(text);
        if (id < 0) {
            throw new IllegalArgumentException(
                    String.format("%s '%s' is not in the vocabulary", key, text));
        }
        return id;
    }

    @Nullable
    private static String chatTemplate(JsonNode config) {
        JsonNode t = config.path("chat_template");
        if (t.isTextual()) {
            return t.asText();
        }
        if (t.isArray()) {
            // Several named templates: the one named "default" is what apply_chat_template uses.
            for (JsonNode named : t) {
                if (named.path("name").asText("").equals("default")) {
                    return named.path("template").asText();
                }
            }
            throw new IllegalArgumentException("chat_template lists no template named 'default'");
        }
        return null;
    }

    private static void setToken(List<String> tokens, int id, String text) {
        if (id < 0) {
            throw new IllegalArgumentException(String.format("Token '%s' has no valid id", text));
        }
        while (tokens.size() <= id) {
            tokens.add(null);
        }
        String old = tokens.get(id);
        if (old != null && !old.equals(text)) {
            throw new IllegalArgumentException(
                    String.format("Id %d is given to both '%s' and '%s'", id, old, text));
        }
        tokens.set(id, text);
    }

    private static void rejectIfSet(JsonNode model, String field) {
        JsonNode v = model.path(field);
        if (!v.isMissingNode() && !v.isNull() && !v.asText().isEmpty()) {
            throw new IllegalArgumentException(
                    String.format("model.%s is '%s'; not supported", field, v.asText()));
        }
    }
}
