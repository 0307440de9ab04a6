package io.kvstream.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TokenizerJsonTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir Path tmp;

    @Test
    void readsTheReferenceModelFiles() {
        TokenizerData d = RefModelFiles.tokenizerData();
        assertThat(d.tokens()).hasSize(2048);
        assertThat(d.merges()).hasSize(1784).startsWith("< |", "| >", "e n");
        assertThat(d.preTokenizer()).isEqualTo("gpt-2");
        assertThat(d.tokens().subList(0, 8))
                .containsExactly(
                        "<|pad|>", "<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|end|>",
                        "<|frame|>", "<|img|>");
        for (int i = 0; i < d.tokens().size(); i++) {
            assertThat(d.tokenTypes()[i])
                    .as("type of %s", d.tokens().get(i))
                    .isEqualTo(i < 8 ? TokenizerData.TYPE_CONTROL : TokenizerData.TYPE_NORMAL);
        }
        assertThat(d.bosId()).isEqualTo(1);
        assertThat(d.eosId()).isEqualTo(5);
        assertThat(d.chatTemplate()).startsWith("{{ bos_token }}");
    }

    @Test
    void stringAndArrayMergesGiveTheSameData() throws Exception {
        ObjectNode root = (ObjectNode) MAPPER.readTree(RefModelFiles.dir().resolve("tokenizer.json").toFile());
        ArrayNode asStrings = MAPPER.createArrayNode();
        for (var merge : root.path("model").path("merges")) {
            asStrings.add(merge.get(0).asText() + " " + merge.get(1).asText());
        }
        TokenizerData arrays = TokenizerJson.read(RefModelFiles.dir().resolve("tokenizer.json"), null);
        ((ObjectNode) root.path("model")).set("merges", asStrings);
        TokenizerData strings = TokenizerJson.read(write(root), null);
        assertThat(strings.merges()).isEqualTo(arrays.merges());
        assertThat(strings.bosId()).isEqualTo(-1);
        assertThat(strings.chatTemplate()).isNull();
    }

    @Test
    void detectsLlama3AndQwen2SplitPatterns() throws Exception {
        for (PreTokenizer p : PreTokenizer.values()) {
            if (p == PreTokenizer.GPT2) {
                continue;
            }
            ObjectNode root = referenceRoot();
            root.set("pre_tokenizer", sequence(p.regex()));
            assertThat(TokenizerJson.read(write(root), null).preTokenizer()).isEqualTo(p.ggufName());
        }
        ObjectNode root = referenceRoot();
        root.set("pre_tokenizer", sequence("\\p{L}+|\\s+"));
        Path file = write(root);
        assertThatThrownBy(() -> TokenizerJson.read(file, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("none of the supported patterns")
                .hasMessageContaining(file.toString());
    }

    @Test
    void unsupportedModelsFailClearly() throws Exception {
        ObjectNode root = referenceRoot();
        ((ObjectNode) root.path("model")).put("type", "WordPiece");
        Path wordPiece = write(root);
        assertThatThrownBy(() -> TokenizerJson.read(wordPiece, null))
                .hasMessageContaining("model.type is 'WordPiece'");
        root = referenceRoot();
        ((ObjectNode) root.path("pre_tokenizer")).put("add_prefix_space", true);
        Path prefix = write(root);
        assertThatThrownBy(() -> TokenizerJson.read(prefix, null))
                .hasMessageContaining("adds a prefix space");
    }

    @Test
    void readsBosEosFromAddedTokenObjectsAndNamedTemplates() throws Exception {
        ObjectNode config = MAPPER.createObjectNode();
        config.putObject("bos_token").put("content", "<|bos|>");
        config.put("eos_token", "<|end|>");
        ArrayNode templates = config.putArray("chat_template");
        templates.addObject().put("name", "tool_use").put("template", "tools");
        templates.addObject().put("name", "default").put("template", "plain");
        Path configFile = tmp.resolve("tokenizer_config.json");
        MAPPER.writeValue(configFile.toFile(), config);
        TokenizerData d = TokenizerJson.read(RefModelFiles.dir().resolve("tokenizer.json"), configFile);
        assertThat(d.bosId()).isEqualTo(1);
        assertThat(d.eosId()).isEqualTo(5);
        assertThat(d.chatTemplate()).isEqualTo("plain");
    }

    private static ObjectNode referenceRoot() throws Exception {
        return (ObjectNode) MAPPER.readTree(RefModelFiles.dir().resolve("tokenizer.json").toFile());
    }

    private static ObjectNode sequence(String regex) {
        ObjectNode seq = MAPPER.createObjectNode().put("type", "Sequence");
        ArrayNode steps = seq.putArray("pretokenizers");
        ObjectNode split = steps.addObject().put("type", "Split");
        split.putObject("pattern").put("Regex", regex);
        split.put("behavior", "Isolated").put("invert", false);
        steps.addObject()
                .put("type", "ByteLevel")
                .put("add_prefix_space", false)
                .put("trim_offsets", true)
                .put("use_regex", false);
        return seq;
    }

    private Path write(ObjectNode root) throws Exception {
        Path file = Files.createTempFile(tmp, "tokenizer", ".json");
        MAPPER.writeValue(file.toFile(), root);
        return file;
    }
}
