package io.kvstream.client;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.client.SessionEventProducer;
import io.kvstream.schema.VideoFrame;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code kvstream video}: streams frames into a session at a fixed rate while the user asks
 * about them ({@code what was shown at t=3?}, {@code what is shown now?}).
 */
@Command(name = "video", mixinStandardHelpOptions = true,
        description = "Stream video frames into a session of a running pipeline and ask about them.")
public final class VideoCommand implements Callable<Integer> {

    private static final Logger LOG = LoggerFactory.getLogger(VideoCommand.class);

    @Mixin KafkaOptions kafka;

    @Option(names = "--session", paramLabel = "ID", description = "session id (default: a new one)")
    @Nullable
    String session;

    @Option(names = "--fps", paramLabel = "F", description = "frames per second (default: ${DEFAULT-VALUE})")
    double fps = 1;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    static final class Source {
        @Option(names = "--synthetic", required = true,
                description = "frames like the reference model's training videos: a glyph that changes every few frames")
        boolean synthetic;

        @Option(names = "--dir", required = true, paramLabel = "FRAMES",
                description = "a folder of PNG or PPM frames, sent in name order, fitted to the frame size")
        @Nullable
        Path dir;
    }

    @Option(names = "--frame-size", paramLabel = "N",
            description = "side of the square frames the model takes (default: ${DEFAULT-VALUE}, the reference model's)")
    int frameSize = SyntheticVideo.SIZE;

    @Option(names = "--max-frames", paramLabel = "N", description = "stop sending after N frames (default: no limit)")
    int maxFrames = Integer.MAX_VALUE;

    @Option(names = "--seed", paramLabel = "S", description = "seed of the synthetic video (default: ${DEFAULT-VALUE})")
    long seed = 1;

    @Option(names = "--max-new", paramLabel = "N", description = "most tokens per reply (default: ${DEFAULT-VALUE})")
    int maxNew = 16;

    @Option(names = "--timeout", paramLabel = "SECONDS", description = "wait this long for a reply (default: ${DEFAULT-VALUE})")
    int timeoutSeconds = 300;

    @Override
    public Integer call() throws Exception {
        if (!(fps > 0)) {
            throw new IllegalArgumentException("--fps must be positive");
        }
        KvstreamKafkaConfig config = kafka.config();
        String id = session != null ? session : ChatLoop.newSessionId("video");
        FrameSource frames = source.synthetic
                ? FrameSource.synthetic(new SyntheticVideo(seed))
                : FrameSource.files(Frames.list(source.dir), frameSize);
        try (SessionEventProducer producer = SessionEventProducer.create(config)) {
            run(config, producer, id, frames, fps, maxFrames, maxNew, Duration.ofSeconds(timeoutSeconds),
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), System.out);
        }
        return 0;
    }

    /** Where frames come from. */
    public interface FrameSource {
        /** The next frame, or null at the end. */
        @Nullable
        byte[] next() throws IOException;

        /** What frame {@code t} shows, when the source knows it. */
        @Nullable
        default String shown(int t) {
            return null;
        }

        static FrameSource synthetic(SyntheticVideo video) {
            return new FrameSource() {
                @Override
                public byte[] next() {
                    return video.next();
                }

                @Override
                public String shown(int t) {
                    return t < video.frames() ? video.shown(t) : null;
                }
            };
        }

        static FrameSource files(List<Path> files, int size) {
            int[] i = {0};
            return () -> i[0] < files.size() ? Frames.read(files.get(i[0]++), size) : null;
        }
    }

    /** Sends frames in the background at {@code fps} while the chat runs on {@code in}. */
    static void run(KvstreamKafkaConfig config, SessionEventProducer producer, String sessionId, FrameSource frames,
                    double fps, int maxFrames, int maxNew, Duration timeout, BufferedReader in, PrintStream out)
            throws IOException {
        // Frames sent to the current session; /new moves the stream to the new session, from t=0.
        AtomicInteger sent = new AtomicInteger();
        AtomicInteger made = new AtomicInteger();
        AtomicInteger base = new AtomicInteger();
        // Written by the chat thread, read by the sender.
        AtomicReference<String> current = new AtomicReference<>();
        String[] last = {null};
        ScheduledExecutorService sender = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "video-frames");
            t.setDaemon(true);
            return t;
        });
        long periodUs = Math.max(1, Math.round(1_000_000 / fps));
        sender.scheduleAtFixedRate(() -> {
            try {
                String target = current.get();
                if (target != last[0]) {
                    last[0] = target;
                    base.set(made.get());
                    sent.set(0);
                }
                int t = sent.get();
                if (target == null || t >= maxFrames) {
                    return;
                }
                byte[] rgb = frames.next();
                if (rgb == null) {
                    return;
                }
                made.incrementAndGet();
                int side = (int) Math.round(Math.sqrt(rgb.length / 3.0));
                producer.send(target, VideoFrame.newBuilder().setIndex(t).setTimestampMs(Math.round(t * 1000 / fps))
                        .setWidth(side).setHeight(side).setRgb(ByteBuffer.wrap(rgb)).build());
                sent.incrementAndGet();
            } catch (Exception e) {
                // A bad frame file must not stop the chat; the log says which.
                LOG.warn("Sending a frame failed: {}", e.toString());
            }
        }, 0, periodUs, TimeUnit.MICROSECONDS);
        ChatLoop.Commands commands = new ChatLoop.Commands() {
            @Override
            public boolean handle(String line, PrintStream o) {
                if (!line.equals("/shown")) {
                    return false;
                }
                int n = sent.get();
                StringBuilder s = new StringBuilder(n + " frames sent");
                for (int t = 0; t < n && frames.shown(base.get() + t) != null; t++) {
                    s.append(t == 0 ? ": " : ", ").append("t=").append(t).append(' ')
                            .append(frames.shown(base.get() + t));
                }
                o.println(s);
                return true;
            }

            @Override
            public String help() {
                return "; ask e.g. \"what was shown at t=2?\" or \"what is shown now?\"; /shown lists the frames sent";
            }
        };
        int[] count = {0};
        try {
            new ChatLoop(config, producer, text -> EvalEvents.videoQuery(text, maxNew), timeout, commands)
                    .run(in, out, () -> {
                        String id = count[0]++ == 0 ? sessionId : ChatLoop.newSessionId("video");
                        current.set(id);
                        return id;
                    });
        } finally {
            sender.shutdownNow();
        }
    }
}
