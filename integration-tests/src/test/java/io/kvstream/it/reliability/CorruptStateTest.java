package io.kvstream.it.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.local.LocalStack;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Issue #10, point 6: KV blocks damaged in stored state. The job stops with a savepoint in
 * Flink's canonical format, which holds each stored value byte for byte (no compression); the
 * test flips a byte inside every stored KV block (found by its magic {@code KVBK}; the byte is
 * the header's reserved field, covered by the block's CRC32C) and restores the job from it. The
 * text session is recomputed from its token history ({@code cached_tokens} 0, the right answer);
 * the video session is reset with an error naming the checksum mismatch; the job does not fail.
 *
 * <p>Broken on purpose ({@code BlockFormat.read} not checking the CRC32C), the test fails with
 * "[recomputed, not restored] expected: 0 but was: 12": the damaged blocks were fed to attention.
 */
class CorruptStateTest {

    /** Offset of the reserved header field of a block, from its magic. */
    private static final int RESERVED = 22;
    private static final byte[] MAGIC = {'K', 'V', 'B', 'K'};

    @Test
    void corruptBlocksAreRecomputedForTextAndResetWithAnErrorForVideo(@TempDir Path tmp) throws Exception {
        PipelineConfig config = Pipeline.config("refmodel-q8_0.gguf", "kivi2").build();
        try (LocalStack stack = Pipeline.start(tmp, config, 0)) {
            String savepoint = StoredSessions.save(stack, tmp.resolve("savepoints"));
            assertThat(corruptBlocks(Path.of(URI.create(savepoint.startsWith("file:") ? savepoint : "file:" + savepoint))))
                    .as("blocks of both sessions").isGreaterThanOrEqualTo(2);
            Map<String, List<ResponseEvent>> answers = StoredSessions.restoreAndAsk(stack, savepoint, config);

            FinalResponse t2 = Pipeline.finalResponse(answers, "t2");
            assertThat(t2.getUsage().getCachedTokens()).as("recomputed, not restored").isZero();
            assertThat(t2.getText()).isEqualTo(Pipeline.text(answers, "f2"));
            assertThat(Pipeline.error(answers, "q1").getMessage()).contains("checksum mismatch", "video frames", "reset");
        }
    }

    /** Flips a byte in every KV block held by the savepoint's state files; returns how many. */
    private static int corruptBlocks(Path savepoint) throws Exception {
        int flipped = 0;
        try (Stream<Path> files = Files.walk(savepoint)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                byte[] bytes = Files.readAllBytes(f);
                int n = 0;
                for (int i = 0; i + MAGIC.length + RESERVED < bytes.length; i++) {
                    if (bytes[i] == MAGIC[0] && bytes[i + 1] == MAGIC[1] && bytes[i + 2] == MAGIC[2]
                            && bytes[i + 3] == MAGIC[3]) {
                        bytes[i + RESERVED] ^= (byte) 0xff;
                        n++;
                    }
                }
                if (n > 0) {
                    Files.write(f, bytes);
                    flipped += n;
                }
            }
        }
        return flipped;
    }
}
