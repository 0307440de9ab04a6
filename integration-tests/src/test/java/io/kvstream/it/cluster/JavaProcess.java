package io.kvstream.it.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One child JVM of the cluster test: a Kafka broker, a Flink JobManager or TaskManager, or a run
 * of the Flink CLI. Its stdout and stderr go to one log file (so that a failing test can print
 * what the process said), it runs the same Java as the test, and {@link #close()} always kills it.
 *
 * <p>Why processes and not threads: the point of the cluster test is that the job jar runs on a
 * classpath it does not control, and that a TaskManager dies the way real ones do (SIGKILL).
 */
public final class JavaProcess implements AutoCloseable {

    /** Every process started, killed when the test JVM exits however it exits (short of SIGKILL). */
    private static final java.util.Set<Process> STARTED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> STARTED.forEach(Process::destroyForcibly),
                "kill-cluster-processes"));
    }

    private final String name;
    private final Process process;
    private final Path log;

    private JavaProcess(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    /**
     * Starts {@code java JVM_ARGS -cp CLASSPATH MAIN ARGS}.
     *
     * @param classpath entries, joined with the path separator (a {@code dir/*} wildcard works)
     */
    public static JavaProcess start(
            String name,
            List<String> jvmArgs,
            List<String> classpath,
            String mainClass,
            List<String> args,
            Map<String, String> env,
            Path log) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmArgs);
        command.add("-cp");
        command.add(String.join(java.io.File.pathSeparator, classpath));
        command.add(mainClass);
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().putAll(env);
        try {
            Files.createDirectories(log.getParent());
            Files.writeString(log, "$ " + String.join(" ", command) + "\n", StandardCharsets.UTF_8);
            pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            Process process = pb.start();
            STARTED.add(process);
            process.onExit().thenRun(() -> STARTED.remove(process));
            return new JavaProcess(name, process, log);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start " + name, e);
        }
    }

    public String name() {
        return name;
    }

    public Path log() {
        return log;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    /** Waits for the process to exit; returns its exit code, or throws when it runs too long. */
    public int await(long timeoutSeconds) throws InterruptedException {
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException(
                    name + " did not finish within " + timeoutSeconds + " s:\n" + tail(40));
        }
        return process.exitValue();
    }

    /** SIGKILL, no shutdown hooks: how a TaskManager dies when its machine or container does. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** The log's whole text. */
    public String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    /** The last lines of the log, for failure messages. */
    public String tail(int lines) {
        return tail(log, lines);
    }

    public static String tail(Path log, int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            List<String> last = all.subList(Math.max(0, all.size() - lines), all.size());
            return "----- last " + last.size() + " lines of " + log + " -----\n" + String.join("\n", last);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    /** Stops the process: SIGTERM, then SIGKILL after a few seconds. */
    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** A port free on 127.0.0.1 right now (the OS picks it; a race with other processes is unlikely). */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
