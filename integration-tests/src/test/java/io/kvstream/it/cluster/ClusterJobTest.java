package io.kvstream.it.cluster;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamTopics;
import io.kvstream.it.cluster.ChatWorkload.Answer;
import io.kvstream.schema.FinalResponse;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * kvstream run the way users run it: the job jar submitted with {@code flink run} to a cluster of
 * separate processes (a JobManager, two TaskManagers, a Kafka broker), exactly-once delivery, 32
 * chat sessions of seeded sampled turns. In order:
 *
 * <ol>
 *   <li>a reference run of all turns on topics of its own, nothing disturbed, then cancelled;
 *   <li>failover: a TaskManager running the inference operator is SIGKILLed while turn 2 is being
 *       generated and a checkpoint is in flight; a replacement starts and the job recovers. Every
 *       request must then have exactly one final response (read_committed), equal to the
 *       reference, and turns after the kill must be served from restored KV state
 *       ({@code cached_tokens > 0});
 *   <li>the operator's metrics, scraped from each TaskManager's Prometheus endpoint;
 *   <li>rescale: stop with a savepoint, resume at parallelism 1, one more turn; again at 4.
 * </ol>
 *
 * Skipped when the job jar ({@code pipeline-jobs/target/kvstream-job.jar}) is not built.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class ClusterJobTest {

    static final int SESSIONS = 32;
    static final int MAX_NEW_TOKENS = 16;
    static final int TURNS = 5;
    /** How long one turn of all sessions may take; a lost request fails the test after this. */
    static final Duration TURN_TIMEOUT = Duration.ofSeconds(Long.getLong("kvstream.it.turn-timeout-s", 180));

    private static final ChatWorkload WORKLOAD = new ChatWorkload(SESSIONS, MAX_NEW_TOKENS);

    /** The job's default topics are kvstream.events, kvstream.responses, kvstream.dead-letters. */
    private static final String DEFAULT_PREFIX = "kvstream";

    private static Path work;
    private static KafkaBrokerProcess kafka;
    private static FlinkProcessCluster flink;
    private static FlinkCli cli;
    private static final Map<String, Answer> reference = new TreeMap<>();

    /** The job under failover and rescale, and what it answered. */
    private static KvstreamKafkaConfig run;
    private static String jobId;
    private static ResponseCollector committed;
    private static final Map<Integer, List<String>> runEventIds = new TreeMap<>();
    private static boolean recovered;

    @RegisterExtension
    static final ProcessLogsOnFailure LOGS = new ProcessLogsOnFailure(() -> flink, () -> kafka);

    @BeforeAll
    static void start() throws Exception {
        Path jar = ClusterPaths.jobJar();
        assumeTrue(Files.isRegularFile(jar), "no job jar at " + jar + ": build pipeline-jobs first");
        work = ClusterPaths.work().resolve("job-" + System.currentTimeMillis());
        kafka = KafkaBrokerProcess.start(ClusterPaths.kafkaLib(), work.resolve("kafka"));
        flink = FlinkProcessCluster.start(ClusterPaths.flinkLib(), work.resolve("flink"), 2);
        cli = new FlinkCli(flink);
        System.out.printf("cluster up: Kafka %s, Flink REST http://127.0.0.1:%d, logs in %s%n",
                kafka.bootstrapServers(), flink.restPort(), work);
    }

    @AfterAll
    static void stop() throws Exception {
        if (committed != null) {
            committed.close();
        }
        if (flink != null) {
            flink.close();
        }
        if (kafka != null) {
            kafka.close();
        }
    }

    private static KvstreamKafkaConfig topics(String prefix) throws Exception {
        KvstreamKafkaConfig config = KvstreamKafkaConfig.builder()
                .bootstrapServers(kafka.bootstrapServers())
                .eventsTopic(prefix + ".events")
                .responsesTopic(prefix + ".responses")
                .deadLettersTopic(prefix + ".dead-letters")
                .delivery(KvstreamKafkaConfig.Delivery.EXACTLY_ONCE)
                .build();
        KvstreamTopics.ensure(config, Duration.ofSeconds(60));
        return config;
    }

    /**
     * The command line of the acceptance: {@code --bootstrap --model --mmproj --kv kivi2
     * --delivery exactly-once}, every other option at its default (threads per slot, device auto,
     * the hot set, the in-flight limit). The run under failover uses the default topics; the
     * reference run names its own.
     */
    private static List<String> jobArgs(KvstreamKafkaConfig k) {
        List<String> args = new java.util.ArrayList<>(List.of(
                "--bootstrap", k.bootstrapServers(),
                "--model", ClusterPaths.model().toString(),
                "--mmproj", ClusterPaths.mmproj().toString(),
                "--kv", "kivi2",
                "--delivery", "exactly-once"));
        if (!k.eventsTopic().equals(DEFAULT_PREFIX + ".events")) {
            args.addAll(List.of(
                    "--events", k.eventsTopic(),
                    "--responses", k.responsesTopic(),
                    "--dead-letters", k.deadLettersTopic()));
        }
        return args;
    }

    private static String submit(KvstreamKafkaConfig k, int parallelism, String savepoint) throws Exception {
        long t0 = System.nanoTime();
        String id = cli.submit(ClusterPaths.jobJar(), parallelism, savepoint, jobArgs(k));
        flink.rest().awaitRunning(id, Duration.ofMinutes(2));
        System.out.printf("job %s running at parallelism %d%s after %d ms%n", id, parallelism,
                savepoint == null ? "" : " from " + savepoint, (System.nanoTime() - t0) / 1_000_000);
        return id;
    }

    /** Fails fast when the job has failed for good, instead of waiting out the turn's timeout. */
    private static Runnable failFastIfFailed(String job) {
        long[] next = {0};
        return () -> {
            if (System.nanoTime() < next[0]) {
                return;
            }
            next[0] = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            try {
                String s = flink.rest().jobStatus(job);
                if (s.equals("FAILED") || s.equals("CANCELED")) {
                    throw new AssertionError("job " + job + " is " + s);
                }
            } catch (java.io.IOException e) {
                // the JobManager may be busy; the turn's timeout still bounds the wait
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
    }

    /** Sends one turn of every session and waits for all the final responses. */
    private static List<String> turn(KvstreamKafkaConfig k, ResponseCollector c, String job, int turn) throws Exception {
        long t0 = System.nanoTime();
        List<String> ids = WORKLOAD.sendTurn(k, turn);
        c.awaitAll(ids, TURN_TIMEOUT, failFastIfFailed(job));
        System.out.printf("turn %d of %d sessions answered in %d ms%n", turn, SESSIONS, (System.nanoTime() - t0) / 1_000_000);
        return ids;
    }

    private static Answer answer(ResponseCollector c, String eventId) {
        List<ResponseCollector.Final> finals = c.finals(eventId);
        FinalResponse f = finals.get(0).response();
        if (f == null) {
            throw new AssertionError("error instead of an answer to " + eventId + ": " + finals.get(0).event());
        }
        return new Answer(f.getText(), f.getUsage().getGeneratedTokens(), f.getFinishReason().name(),
                f.getUsage().getCachedTokens());
    }

    @Test
    @Order(1)
    void referenceRunWithoutFailures() throws Exception {
        KvstreamKafkaConfig ref = topics("reference");
        String id = submit(ref, 2, null);
        try (ResponseCollector c = new ResponseCollector(ref, true)) {
            for (int turn = 1; turn <= TURNS; turn++) {
                List<String> ids = turn(ref, c, id, turn);
                for (int s = 0; s < SESSIONS; s++) {
                    assertThat(c.finals(ids.get(s))).as("finals of %s", ChatWorkload.key(s, turn)).hasSize(1);
                    reference.put(ChatWorkload.key(s, turn), answer(c, ids.get(s)));
                }
            }
        }
        assertThat(flink.rest().checkpointCounts(id).restored()).as("restores in the reference run").isZero();
        cli.cancel(id);
        flink.rest().awaitTerminal(id, Duration.ofMinutes(1));
        long sampled = reference.values().stream().map(Answer::text).distinct().count();
        System.out.printf("reference: %d answers, %d distinct; e.g. %s%n", reference.size(), sampled,
                reference.get(ChatWorkload.key(0, 1)));
        // The reference model answers briefly; sampled at temperature 1.2 with a seed per request,
        // its answers still differ between sessions and turns.
        assertThat(sampled).as("distinct answers (sampling with seeds)").isGreaterThan(TURNS);
    }

    @Test
    @Order(2)
    void killedTaskManagerLosesNoAnswerAndRepeatsNone() throws Exception {
        assumeTrue(reference.size() == SESSIONS * TURNS, "needs the reference run");
        run = topics(DEFAULT_PREFIX);
        jobId = submit(run, 2, null);
        committed = new ResponseCollector(run, true);
        runEventIds.put(1, turn(run, committed, jobId, 1));

        // Turn 2: kill a TaskManager of the inference operator while tokens are being generated
        // and a checkpoint is in flight, after a checkpoint has completed with requests pending.
        FlinkRest rest = flink.rest();
        long sent = System.currentTimeMillis();
        List<String> turn2;
        FlinkProcessCluster.TaskManager victim;
        Set<String> committedBeforeKill;
        Set<String> writtenBeforeKill;
        long killedAt;
        long recoveryMs;
        try (ResponseCollector uncommitted = new ResponseCollector(run, false)) {
            int completedAtStart = rest.checkpointCounts(jobId).completed();
            turn2 = WORKLOAD.sendTurn(run, 2);
            runEventIds.put(2, turn2);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            long firstToken = -1;
            long checkpointed = -1;
            while (true) {
                assertThat(System.nanoTime()).as("time left to find the moment to kill").isLessThan(deadline);
                assertThat(committed.answered(turn2))
                        .as("turn-2 answers committed before the kill (all done: nothing left to recover)")
                        .isLessThan(SESSIONS);
                FlinkRest.CheckpointCounts counts = rest.checkpointCounts(jobId);
                if (firstToken < 0 && uncommitted.anyDelta(turn2)) {
                    firstToken = System.currentTimeMillis();
                }
                if (checkpointed < 0 && counts.completed() > completedAtStart) {
                    checkpointed = System.currentTimeMillis();
                }
                // Tokens are being generated, a checkpoint has completed since the turn's events
                // were sent (so requests are pending in its state, and the source's offsets are
                // past them: only the operator's state can bring them back), and the next
                // checkpoint is in flight.
                if (firstToken >= 0 && checkpointed >= 0 && counts.inProgress() > 0) {
                    break;
                }
                Thread.sleep(20);
            }
            System.out.printf("turn 2: first token read %d ms after sending, a checkpoint completed after %d ms%n",
                    firstToken - sent, checkpointed - sent);
            String vertex = rest.vertexId(jobId, "inference");
            victim = flink.taskManager(rest.taskManagersOf(jobId, vertex).iterator().next());
            committedBeforeKill = committed.answeredIds();
            writtenBeforeKill = uncommitted.answeredIds();
            killedAt = System.currentTimeMillis();
            flink.killTaskManager(victim);
            System.out.printf("killed %s (pid %d) %d ms after sending turn 2: of %d turn-2 requests %d answered and"
                            + " committed, %d answered in open transactions, %d not answered yet;"
                            + " %d checkpoints completed since turn 2 was sent%n",
                    victim.resourceId(), victim.process().pid(), killedAt - sent, SESSIONS,
                    turn2.stream().filter(committedBeforeKill::contains).count(),
                    turn2.stream().filter(id -> writtenBeforeKill.contains(id) && !committedBeforeKill.contains(id)).count(),
                    turn2.stream().filter(id -> !writtenBeforeKill.contains(id)).count(),
                    rest.checkpointCounts(jobId).completed() - completedAtStart);

            FlinkProcessCluster.TaskManager replacement = flink.startTaskManager();
            long registered = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (true) {
                List<String> tms = rest.taskManagers();
                if (tms.contains(replacement.resourceId()) && !tms.contains(victim.resourceId())) {
                    break;
                }
                assertThat(System.nanoTime()).as("replacement registered, %s gone", victim.resourceId()).isLessThan(registered);
                Thread.sleep(200);
            }
            committed.awaitAll(turn2, TURN_TIMEOUT, failFastIfFailed(jobId));
            rest.awaitRunning(jobId, Duration.ofMinutes(2));
            // Recovered: the first committed answer that nobody had written before the kill, so
            // that the restarted job computed it (not a transaction of the old one committing).
            long recoveredAt = turn2.stream().filter(id -> !writtenBeforeKill.contains(id))
                    .mapToLong(id -> committed.finals(id).get(0).readAtMillis()).min()
                    .orElseThrow(() -> new AssertionError("every turn-2 answer was written before the kill"));
            recoveryMs = recoveredAt - killedAt;
            System.out.printf("recovery: %d ms from SIGKILL to the first final response computed after it"
                            + " (job RESTARTING after %d ms, RUNNING again after %d ms)%n", recoveryMs,
                    rest.lastEntered(jobId, "RESTARTING") - killedAt, rest.lastEntered(jobId, "RUNNING") - killedAt);
        }

        runEventIds.put(3, turn(run, committed, jobId, 3));
        // Two more checkpoints: anything the restarted job wrote twice would be committed by now.
        awaitCheckpoints(jobId, 2);

        FlinkRest.CheckpointCounts counts = rest.checkpointCounts(jobId);
        assertThat(counts.restored()).as("restores from a checkpoint").isGreaterThanOrEqualTo(1);
        assertNoOtherTaskManagerDied();
        assertExactlyOneEqualToReference(List.of(1, 2, 3));
        List<String> uncached = new ArrayList<>();
        for (int turn = 2; turn <= 3; turn++) {
            for (int s = 0; s < SESSIONS; s++) {
                String id = runEventIds.get(turn).get(s);
                if (turn == 2 && committedBeforeKill.contains(id)) {
                    continue;
                }
                if (answer(committed, id).cachedTokens() <= 0) {
                    uncached.add(ChatWorkload.key(s, turn));
                }
            }
        }
        assertThat(uncached).as("answers after recovery without cached tokens (KV not restored)").isEmpty();

        recovered = true;
        System.out.printf("METRIC recovery_ms=%d%n", recoveryMs);
        CheckpointReport.print(flink.rest(), jobId, SESSIONS);
    }

    @Test
    @Order(3)
    void taskManagersExposeTheOperatorsMetricsToPrometheus() throws Exception {
        assumeTrue(recovered, "needs the failover job, recovered");
        double restored = OperatorMetricsCheck.check(flink, jobId);
        assertThat(restored).as("sessions restored from state since the failover").isPositive();
    }

    @Test
    @Order(4)
    void rescaleThroughSavepointsKeepsEverySession() throws Exception {
        assumeTrue(recovered, "needs the failover job, recovered");
        int turn = 4;
        for (int parallelism : new int[] {1, 4}) {
            long t0 = System.nanoTime();
            String savepoint = cli.stopWithSavepoint(jobId, work.resolve("savepoints"));
            assertThat(flink.rest().awaitTerminal(jobId, Duration.ofMinutes(1))).isEqualTo("FINISHED");
            System.out.printf("stopped %s with savepoint %s in %d ms%n", jobId, savepoint, (System.nanoTime() - t0) / 1_000_000);
            jobId = submit(run, parallelism, savepoint);
            runEventIds.put(turn, turn(run, committed, jobId, turn));
            List<String> uncached = new ArrayList<>();
            for (int s = 0; s < SESSIONS; s++) {
                if (answer(committed, runEventIds.get(turn).get(s)).cachedTokens() <= 0) {
                    uncached.add(ChatWorkload.key(s, turn));
                }
            }
            assertThat(uncached).as("answers at parallelism %d without cached tokens", parallelism).isEmpty();
            turn++;
        }
        // At parallelism 4 both TaskManagers (the survivor and the replacement) run the operator.
        assertThat(flink.rest().taskManagersOf(jobId, flink.rest().vertexId(jobId, "inference"))).hasSize(2);
        assertThat(OperatorMetricsCheck.check(flink, jobId)).as("sessions restored from the savepoint").isPositive();
        awaitCheckpoints(jobId, 2);
        assertNoOtherTaskManagerDied();
        assertExactlyOneEqualToReference(List.of(1, 2, 3, 4, 5));
        cli.cancel(jobId);
    }

    /** Only the TaskManager the test killed may be gone: another death (e.g. out of memory) would blur the numbers. */
    private static void assertNoOtherTaskManagerDied() {
        assertThat(flink.liveTaskManagers()).as("live TaskManagers (only the killed one may be dead)")
                .hasSize(flink.taskManagers().size() - 1);
    }

    private static void awaitCheckpoints(String job, int more) throws Exception {
        int target = flink.rest().checkpointCounts(job).completed() + more;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (flink.rest().checkpointCounts(job).completed() < target) {
            assertThat(System.nanoTime()).as("%d more checkpoints", more).isLessThan(deadline);
            Thread.sleep(200);
        }
        // The sinks commit their transactions when told the checkpoint completed, just after the
        // REST count moves: a moment later a read_committed reader sees everything it wrote.
        Thread.sleep(1_000);
    }

    /** Every request of the turns has exactly one final response, and it is the reference's. */
    private static void assertExactlyOneEqualToReference(List<Integer> turns) {
        List<String> notOne = new ArrayList<>();
        List<String> differ = new ArrayList<>();
        for (int turn : turns) {
            for (int s = 0; s < SESSIONS; s++) {
                String key = ChatWorkload.key(s, turn);
                String id = runEventIds.get(turn).get(s);
                int n = committed.finals(id).size();
                if (n != 1) {
                    notOne.add(key + " (" + id + "): " + n + " final responses");
                    continue;
                }
                Answer got = answer(committed, id);
                Answer want = reference.get(key);
                if (!got.comparable().equals(want.comparable())) {
                    differ.add(key + ": got '" + got.comparable() + "', reference '" + want.comparable() + "'");
                }
            }
        }
        assertThat(notOne).as("requests without exactly one final response").isEmpty();
        assertThat(differ).as("answers differing from the reference run").isEmpty();
    }
}
