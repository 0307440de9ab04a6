package io.kvstream.it.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A standalone Flink session cluster as separate JVMs on 127.0.0.1: one JobManager and any number
 * of TaskManagers, each started the way the distribution's {@code jobmanager.sh} and {@code
 * taskmanager.sh} start them, on the classpath of {@code flink-dist} only (no kvstream module, no
 * Kafka client: the job jar has to bring those).
 *
 * <p>{@code CONF/config.yaml}: RocksDB with incremental checkpoints every 2 s to a local
 * directory, a bounded fixed-delay restart strategy (a broken recovery fails the job instead of
 * looping), 2 slots per TaskManager, short heartbeats (a killed TaskManager is noticed in seconds),
 * and the Prometheus reporter; each TaskManager gets a port of its own for it.
 */
public final class FlinkProcessCluster implements AutoCloseable {

    /** Flink's standard opens, plus the Vector API that the job's CPU backend needs. */
    public static final List<String> JAVA_OPTS = List.of(
            "--add-modules", "jdk.incubator.vector",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/java.net=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
            "--add-opens=java.base/java.text=ALL-UNNAMED",
            "--add-opens=java.base/java.time=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED");

    private static final String RESULT = "BASH_JAVA_UTILS_EXEC_RESULT:";

    private final Path lib;
    private final Path dir;
    private final Path conf;
    private final int restPort;
    private final JavaProcess jobManager;
    private final List<TaskManager> taskManagers = new ArrayList<>();
    private final FlinkRest rest;
    private int started;

    /** A TaskManager process, its resource id (as the REST API shows it) and its metrics port. */
    public record TaskManager(String resourceId, int prometheusPort, JavaProcess process) {}

    private FlinkProcessCluster(Path lib, Path dir, int restPort, JavaProcess jobManager) {
        this.lib = lib;
        this.dir = dir;
        this.conf = dir.resolve("conf");
        this.restPort = restPort;
        this.jobManager = jobManager;
        this.rest = new FlinkRest("http://127.0.0.1:" + restPort);
    }

    /** Writes the configuration and starts the JobManager; waits until its REST API answers. */
    public static FlinkProcessCluster start(Path lib, Path dir, int taskManagers) throws Exception {
        Path conf = dir.resolve("conf");
        Files.createDirectories(conf);
        int restPort = JavaProcess.freePort();
        writeConfig(conf, dir, restPort);
        List<String> jvm = new ArrayList<>(List.of("-Xmx512m", "-Xms512m"));
        jvm.addAll(JAVA_OPTS);
        jvm.addAll(logging(conf));
        JavaProcess jm = JavaProcess.start("jobmanager", jvm, ClusterPaths.classpathOf(lib),
                "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
                List.of("--configDir", conf.toString(),
                        "-D", "metrics.reporter.prom.port=" + JavaProcess.freePort()),
                Map.of(), dir.resolve("jobmanager.log"));
        FlinkProcessCluster cluster = new FlinkProcessCluster(lib, dir, restPort, jm);
        try {
            cluster.rest.awaitUp(jm, Duration.ofSeconds(90));
            for (int i = 0; i < taskManagers; i++) {
                cluster.startTaskManager();
            }
            cluster.awaitTaskManagers(taskManagers, Duration.ofSeconds(90));
        } catch (Exception | Error e) {
            cluster.close();
            throw e;
        }
        return cluster;
    }

    private static void writeConfig(Path conf, Path dir, int restPort) throws IOException {
        String yaml = String.join("\n",
                "jobmanager.rpc.address: 127.0.0.1",
                "jobmanager.rpc.port: " + JavaProcess.freePort(),
                "jobmanager.bind-host: 127.0.0.1",
                "jobmanager.memory.process.size: 1024m",
                "taskmanager.bind-host: 127.0.0.1",
                "taskmanager.host: 127.0.0.1",
                "taskmanager.rpc.port: 0",
                "taskmanager.data.port: 0",
                "taskmanager.numberOfTaskSlots: 2",
                "taskmanager.memory.process.size: 4096m",
                "taskmanager.memory.managed.fraction: 0.15",
                "rest.address: 127.0.0.1",
                "rest.bind-address: 127.0.0.1",
                "rest.port: " + restPort,
                "blob.server.port: 0",
                "web.upload.dir: " + dir.resolve("web-upload").toAbsolutePath(),
                "io.tmp.dirs: " + dir.resolve("tmp").toAbsolutePath(),
                "parallelism.default: 1",
                // Fresh REST answers: checkpoint counts and task placement decide when and whom to kill.
                "web.refresh-interval: 500ms",
                "rest.cache.checkpoint-statistics.timeout: 100ms",
                "heartbeat.interval: 1000",
                "heartbeat.timeout: 8000",
                "state.backend.type: rocksdb",
                "state.backend.incremental: true",
                "execution.checkpointing.dir: file://" + dir.resolve("checkpoints").toAbsolutePath(),
                "execution.checkpointing.savepoint-dir: file://" + dir.resolve("savepoints").toAbsolutePath(),
                "execution.checkpointing.interval: 2s",
                "execution.checkpointing.mode: EXACTLY_ONCE",
                "execution.checkpointing.timeout: 60s",
                "restart-strategy.type: fixed-delay",
                "restart-strategy.fixed-delay.attempts: 8",
                "restart-strategy.fixed-delay.delay: 2s",
                "taskmanager.load-balance.mode: SLOTS",
                "metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
                "metrics.reporter.prom.host: 127.0.0.1",
                "metrics.reporter.prom.interval: 1s",
                "env.java.opts.all: " + String.join(" ", JAVA_OPTS),
                "");
        Files.writeString(conf.resolve("config.yaml"), yaml, StandardCharsets.UTF_8);
        Files.writeString(conf.resolve("log4j-console.properties"), String.join("\n",
                "rootLogger.level = INFO",
                "rootLogger.appenderRef.console.ref = ConsoleAppender",
                "appender.console.name = ConsoleAppender",
                "appender.console.type = CONSOLE",
                "appender.console.layout.type = PatternLayout",
                "appender.console.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-40c{1.} - %m%n",
                "logger.pekko.name = org.apache.pekko",
                "logger.pekko.level = WARN",
                "logger.kafka.name = org.apache.kafka",
                "logger.kafka.level = WARN",
                "logger.shaded_zk.name = org.apache.flink.shaded.zookeeper3",
                "logger.shaded_zk.level = WARN",
                ""), StandardCharsets.UTF_8);
    }

    private static List<String> logging(Path conf) {
        return List.of("-Dlog4j.configurationFile=" + conf.resolve("log4j-console.properties").toAbsolutePath(),
                "-Dlog4j2.configurationFile=" + conf.resolve("log4j-console.properties").toAbsolutePath());
    }

    /**
     * Starts one more TaskManager, as {@code taskmanager.sh} does: the memory flags and dynamic
     * properties come from {@code BashJavaUtils GET_TM_RESOURCE_PARAMS}. Does not wait for it to
     * register.
     */
    public synchronized TaskManager startTaskManager() throws Exception {
        int index = started++;
        JavaProcess utils = JavaProcess.start("bash-java-utils-" + index, List.of("-Xmx128m"),
                ClusterPaths.classpathOf(lib), "org.apache.flink.runtime.util.bash.BashJavaUtils",
                List.of("GET_TM_RESOURCE_PARAMS", "--configDir", conf.toString()),
                Map.of(), dir.resolve("bash-java-utils-" + index + ".log"));
        if (utils.await(60) != 0) {
            throw new IllegalStateException("BashJavaUtils failed:\n" + utils.tail(40));
        }
        List<String> results = utils.output().lines()
                .filter(l -> l.startsWith(RESULT)).map(l -> l.substring(RESULT.length()).trim()).toList();
        if (results.size() < 2) {
            throw new IllegalStateException("BashJavaUtils printed no JVM parameters:\n" + utils.tail(40));
        }
        String resourceId = "tm-" + index;
        int promPort = JavaProcess.freePort();
        List<String> jvm = new ArrayList<>(split(results.get(results.size() - 2)));
        jvm.addAll(JAVA_OPTS);
        jvm.addAll(logging(conf));
        List<String> args = new ArrayList<>(List.of("--configDir", conf.toString()));
        args.addAll(split(results.get(results.size() - 1)));
        args.addAll(List.of("-D", "taskmanager.resource-id=" + resourceId,
                "-D", "metrics.reporter.prom.port=" + promPort));
        JavaProcess tm = JavaProcess.start("taskmanager-" + index, jvm, ClusterPaths.classpathOf(lib),
                "org.apache.flink.runtime.taskexecutor.TaskManagerRunner", args,
                Map.of(), dir.resolve("taskmanager-" + index + ".log"));
        TaskManager handle = new TaskManager(resourceId, promPort, tm);
        taskManagers.add(handle);
        return handle;
    }

    private static List<String> split(String s) {
        return Arrays.stream(s.trim().split("\\s+")).filter(x -> !x.isEmpty()).toList();
    }

    /** SIGKILLs a TaskManager, as a machine failure would. */
    public void killTaskManager(TaskManager tm) throws InterruptedException {
        tm.process().kill();
    }

    /** Waits until this many TaskManagers are registered with the ResourceManager. */
    public void awaitTaskManagers(int count, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (rest.taskManagers().size() != count) {
            for (TaskManager tm : taskManagers) {
                if (!tm.process().isAlive() && tm.process().output().contains("Exception")
                        && liveTaskManagers().size() < count) {
                    throw new IllegalStateException(tm.resourceId() + " exited:\n" + tm.process().tail(60));
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(rest.taskManagers().size() + " TaskManagers registered, not "
                        + count + " within " + timeout + "\n" + diagnostics(40));
            }
            Thread.sleep(300);
        }
    }

    public List<TaskManager> taskManagers() {
        return List.copyOf(taskManagers);
    }

    public List<TaskManager> liveTaskManagers() {
        return taskManagers.stream().filter(t -> t.process().isAlive()).toList();
    }

    public TaskManager taskManager(String resourceId) {
        return taskManagers.stream().filter(t -> t.resourceId().equals(resourceId)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("No TaskManager " + resourceId));
    }

    public FlinkRest rest() {
        return rest;
    }

    public int restPort() {
        return restPort;
    }

    public Path confDir() {
        return conf;
    }

    public Path lib() {
        return lib;
    }

    public Path dir() {
        return dir;
    }

    public JavaProcess jobManager() {
        return jobManager;
    }

    /** The tails of every process's log, for a failure message. */
    public String diagnostics(int lines) {
        StringBuilder sb = new StringBuilder(jobManager.tail(lines)).append('\n');
        for (TaskManager tm : taskManagers) {
            sb.append(tm.process().tail(lines)).append('\n');
        }
        return sb.toString();
    }

    @Override
    public void close() {
        for (TaskManager tm : taskManagers) {
            tm.process().close();
        }
        jobManager.close();
    }
}
