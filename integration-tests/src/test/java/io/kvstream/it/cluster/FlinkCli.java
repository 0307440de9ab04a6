package io.kvstream.it.cluster;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Flink's command line front end ({@code bin/flink}) as a process of its own: {@code CliFrontend}
 * on the distribution's classpath with {@code FLINK_CONF_DIR} set, so that a job is submitted
 * exactly as users submit it, its jar shipped through the blob server and its {@code main()} run
 * on a classpath that holds only Flink.
 */
public final class FlinkCli {

    private static final Pattern JOB_ID = Pattern.compile("JobID ([0-9a-f]{32})");
    private static final Pattern SAVEPOINT = Pattern.compile("Savepoint completed\\. Path: (\\S+)");

    private final FlinkProcessCluster cluster;
    private final AtomicInteger runs = new AtomicInteger();

    public FlinkCli(FlinkProcessCluster cluster) {
        this.cluster = cluster;
    }

    /** What a CLI run printed and how it exited. */
    public record Result(int exitCode, String output, Path log) {
        public Result requireSuccess(String what) {
            if (exitCode != 0) {
                throw new IllegalStateException(what + " failed (exit " + exitCode + "):\n" + JavaProcess.tail(log, 60));
            }
            return this;
        }
    }

    /** Runs {@code flink ARGS} and waits for it (at most the timeout). */
    public Result run(long timeoutSeconds, List<String> args) throws InterruptedException {
        String name = "flink-cli-" + runs.incrementAndGet() + "-" + args.get(0);
        List<String> jvm = new ArrayList<>(List.of("-Xmx512m"));
        jvm.addAll(FlinkProcessCluster.JAVA_OPTS);
        jvm.add("-Dlog4j.configurationFile=" + cluster.confDir().resolve("log4j-console.properties").toAbsolutePath());
        JavaProcess p = JavaProcess.start(name, jvm, ClusterPaths.classpathOf(cluster.lib()),
                "org.apache.flink.client.cli.CliFrontend", args,
                Map.of("FLINK_CONF_DIR", cluster.confDir().toString(),
                        "FLINK_LIB_DIR", cluster.lib().toString()),
                cluster.dir().resolve(name + ".log"));
        int rc = p.await(timeoutSeconds);
        return new Result(rc, p.output(), p.log());
    }

    /**
     * {@code flink run -d -p P [-s SAVEPOINT] JAR ARGS}: submits detached and returns the job id.
     */
    public String submit(Path jar, int parallelism, String savepoint, List<String> jobArgs) throws InterruptedException {
        List<String> args = new ArrayList<>(List.of("run", "-d", "-p", String.valueOf(parallelism)));
        if (savepoint != null) {
            args.addAll(List.of("-s", savepoint));
        }
        args.add(jar.toString());
        args.addAll(jobArgs);
        Result r = run(300, args).requireSuccess("flink run");
        Matcher m = JOB_ID.matcher(r.output());
        if (!m.find()) {
            throw new IllegalStateException("flink run printed no job id:\n" + JavaProcess.tail(r.log(), 60));
        }
        return m.group(1);
    }

    /** {@code flink stop --savepointPath DIR JOBID}: returns the savepoint's path. */
    public String stopWithSavepoint(String jobId, Path dir) throws InterruptedException {
        Result r = run(300, List.of("stop", "--savepointPath", dir.toUri().toString(), jobId))
                .requireSuccess("flink stop");
        Matcher m = SAVEPOINT.matcher(r.output());
        if (!m.find()) {
            throw new IllegalStateException("flink stop printed no savepoint path:\n" + JavaProcess.tail(r.log(), 60));
        }
        return m.group(1);
    }

    public void cancel(String jobId) throws InterruptedException {
        run(120, List.of("cancel", jobId)).requireSuccess("flink cancel");
    }

    public Result list() throws InterruptedException {
        return run(120, List.of("list")).requireSuccess("flink list");
    }
}
