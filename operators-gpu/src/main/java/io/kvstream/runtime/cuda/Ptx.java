package io.kvstream.runtime.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The PTX the build made from {@code src/main/cuda} (build-ptx.sh), read from the classpath.
 * Each file's first line names the SHA-256 of the sources it was compiled from.
 */
public final class Ptx {

    /** Where the PTX files live among the resources. */
    public static final String RESOURCE_DIR = "/io/kvstream/runtime/cuda/";

    private static final Pattern HEADER =
            Pattern.compile("^// kvstream-ptx source-sha256=([0-9a-f]{64}) arch=(\\S+)");
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+([A-Za-z_][A-Za-z0-9_]*)\\s*\\(");

    private Ptx() {}

    /** The text of module {@code module}. */
    public static String text(String module) {
        String name = RESOURCE_DIR + module + ".ptx";
        try (InputStream in = Ptx.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException(
                        "PTX resource " + name + " is missing: build operators-gpu with -Pptx on a machine with nvcc");
            }
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + name, e);
        }
    }

    /** The source hash in the PTX's first line, or null when it has no kvstream header. */
    public static String sourceHash(String ptx) {
        Matcher m = HEADER.matcher(ptx);
        return m.find() ? m.group(1) : null;
    }

    /** Names of the kernels ({@code .entry}) the PTX defines. */
    public static Set<String> entries(String ptx) {
        Set<String> out = new LinkedHashSet<>();
        Matcher m = ENTRY.matcher(ptx);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /** The PTX as the driver takes it: a NUL-terminated byte string. */
    static byte[] image(String ptx) {
        byte[] bytes = ptx.getBytes(StandardCharsets.US_ASCII);
        byte[] image = new byte[bytes.length + 1];
        System.arraycopy(bytes, 0, image, 0, bytes.length);
        return image;
    }
}
