package io.kvstream.model.safetensors;

import io.kvstream.model.ModelFormatException;
import io.kvstream.model.tensor.FloatTensor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tensors of a Hugging Face checkpoint: one {@code .safetensors} file, or shards listed by
 * {@code model.safetensors.index.json} ({@code {"weight_map": {tensor: shard file}}}).
 */
public final class SafetensorsCheckpoint implements Closeable {

    public static final String INDEX = "model.safetensors.index.json";
    public static final String SINGLE = "model.safetensors";

    private final Path source;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> byTensor;

    private SafetensorsCheckpoint(
            Path source, List<SafetensorsFile> files, Map<String, SafetensorsFile> byTensor) {
        this.source = source;
        this.files = Collections.unmodifiableList(files);
        this.byTensor = Collections.unmodifiableMap(byTensor);
    }

    /**
     * Opens a {@code .safetensors} file, an index file, or a folder holding either
     * {@value #INDEX} or {@value #SINGLE}.
     */
    public static SafetensorsCheckpoint open(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            if (Files.isRegularFile(path.resolve(INDEX))) {
                return openIndex(path.resolve(INDEX));
            }
            if (Files.isRegularFile(path.resolve(SINGLE))) {
                return openSingle(path.resolve(SINGLE));
            }
            throw new ModelFormatException(
                    String.format(
                            "%s holds neither %s nor %s", path, INDEX, SINGLE));
        }
        if (path.getFileName().toString().endsWith(".index.json")) {
            return openIndex(path);
        }
        return openSingle(path);
    }

    private static SafetensorsCheckpoint openSingle(Path file) throws IOException {
        SafetensorsFile f = SafetensorsFile.open(file);
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        for (String name : f.tensorInfos().keySet()) {
            byTensor.put(name, f);
        }
        return new SafetensorsCheckpoint(file, List.of(f), byTensor);
    }

    private static SafetensorsCheckpoint openIndex(Path index) throws IOException {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(
                    String.format("%s is not valid JSON: %s", index, e.getMessage()), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new ModelFormatException(
                    String.format("%s has no \"weight_map\" object", index));
        }
        Path folder = index.toAbsolutePath().getParent();
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        try {
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String shardName = e.getValue().asText();
                SafetensorsFile shard = shards.get(shardName);
                if (shard == null) {
                    shard = SafetensorsFile.open(folder.resolve(shardName));
                    shards.put(shardName, shard);
                }
                if (!shard.hasTensor(e.getKey())) {
                    throw new ModelFormatException(
                            String.format(
                                    "%s maps tensor '%s' to %s, which does not contain it",
                                    index, e.getKey(), shard.path()));
                }
                byTensor.put(e.getKey(), shard);
            }
        } catch (IOException | RuntimeException e) {
            for (SafetensorsFile f : shards.values()) {
                f.close();
            }
            throw e;
        }
        return new SafetensorsCheckpoint(index, new ArrayList<>(shards.values()), byTensor);
    }

    /** The file or index this checkpoint was opened from. */
    public Path source() {
        return source;
    }

    public List<SafetensorsFile> files() {
        return files;
    }

    /** Every tensor name, in index (or header) order. */
    public Iterable<String> tensorNames() {
        return byTensor.keySet();
    }

    public boolean hasTensor(String name) {
        return byTensor.containsKey(name);
    }

    private SafetensorsFile fileOf(String name) throws ModelFormatException {
        SafetensorsFile f = byTensor.get(name);
        if (f == null) {
            throw ModelFormatException.missingTensor(source, name);
        }
        return f;
    }

    public SafetensorsTensorInfo tensorInfo(String name) throws ModelFormatException {
        return fileOf(name).tensorInfo(name);
    }

    public FloatTensor tensor(String name) throws IOException {
        return fileOf(name).tensor(name);
    }

    public FloatTensor tensor(String name, int rows, int cols) throws IOException {
        return fileOf(name).tensor(name, rows, cols);
    }

    public float[] floats(String name, int length) throws IOException {
        return fileOf(name).floats(name, length);
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (SafetensorsFile f : files) {
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
