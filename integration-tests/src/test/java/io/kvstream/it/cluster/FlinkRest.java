package io.kvstream.it.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The bits of Flink's REST API the cluster test reads: registered TaskManagers, a job's status,
 * its checkpoint counts and statistics, and which TaskManagers run a vertex. JSON with Jackson
 * over {@code java.net.http}, every call bounded by a timeout.
 */
public final class FlinkRest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String base;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    public FlinkRest(String base) {
        this.base = base;
    }

    /** Checkpoint counts of a job, as {@code /jobs/:id/checkpoints} gives them. */
    public record CheckpointCounts(int completed, int inProgress, int failed, int restored) {}

    /** The latest completed checkpoint: id, full and incremental sizes, end-to-end duration. */
    public record CheckpointStats(long id, long stateSize, long checkpointedSize, long durationMs) {}

    public JsonNode get(String path) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(10)).GET().build();
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("GET " + path + ": HTTP " + response.statusCode() + " " + response.body());
        }
        return JSON.readTree(response.body());
    }

    /** Waits until the REST API answers, failing early when the JobManager process has exited. */
    void awaitUp(JavaProcess jobManager, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                get("/config");
                return;
            } catch (IOException e) {
                if (!jobManager.isAlive()) {
                    throw new IllegalStateException("JobManager exited:\n" + jobManager.tail(80));
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("JobManager REST not up within " + timeout + "\n" + jobManager.tail(80), e);
                }
                Thread.sleep(300);
            }
        }
    }

    /** Resource ids of the registered TaskManagers. */
    public List<String> taskManagers() throws IOException, InterruptedException {
        List<String> ids = new ArrayList<>();
        for (JsonNode tm : get("/taskmanagers").path("taskmanagers")) {
            ids.add(tm.path("id").asText());
        }
        return ids;
    }

    /** Slots of the registered TaskManagers, all together. */
    public int totalSlots() throws IOException, InterruptedException {
        return get("/overview").path("slots-total").asInt();
    }

    public String jobStatus(String jobId) throws IOException, InterruptedException {
        return get("/jobs/" + jobId).path("state").asText();
    }

    /** Waits until the job is RUNNING and all its tasks are too (then sources are reading). */
    public void awaitRunning(String jobId, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "?";
        while (System.nanoTime() < deadline) {
            JsonNode job = get("/jobs/" + jobId);
            last = job.path("state").asText();
            if (last.equals("FAILED") || last.equals("CANCELED") || last.equals("FINISHED")) {
                throw new IllegalStateException("Job " + jobId + " is " + last);
            }
            boolean allRunning = last.equals("RUNNING") && job.path("vertices").size() > 0;
            for (JsonNode v : job.path("vertices")) {
                allRunning &= v.path("status").asText().equals("RUNNING");
            }
            if (allRunning) {
                return;
            }
            Thread.sleep(300);
        }
        throw new IllegalStateException("Job " + jobId + " not running within " + timeout + " (" + last + ")");
    }

    /** Waits for a terminal state (FINISHED, CANCELED or FAILED) and returns it. */
    public String awaitTerminal(String jobId, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            String s = jobStatus(jobId);
            if (s.equals("FAILED") || s.equals("CANCELED") || s.equals("FINISHED")) {
                return s;
            }
            Thread.sleep(300);
        }
        throw new IllegalStateException("Job " + jobId + " not done within " + timeout);
    }

    public CheckpointCounts checkpointCounts(String jobId) throws IOException, InterruptedException {
        JsonNode c = get("/jobs/" + jobId + "/checkpoints").path("counts");
        return new CheckpointCounts(c.path("completed").asInt(), c.path("in_progress").asInt(),
                c.path("failed").asInt(), c.path("restored").asInt());
    }

    /** The latest completed checkpoint, or null if none. */
    public CheckpointStats latestCheckpoint(String jobId) throws IOException, InterruptedException {
        JsonNode c = get("/jobs/" + jobId + "/checkpoints").path("latest").path("completed");
        if (c.isMissingNode() || c.isNull()) {
            return null;
        }
        return new CheckpointStats(c.path("id").asLong(), c.path("state_size").asLong(),
                c.path("checkpointed_size").asLong(), c.path("end_to_end_duration").asLong());
    }

    /** When the job last entered a state (epoch ms), or -1 if it never did. */
    public long lastEntered(String jobId, String state) throws IOException, InterruptedException {
        long t = get("/jobs/" + jobId).path("timestamps").path(state).asLong(0);
        return t > 0 ? t : -1;
    }

    /** Completed checkpoints still in the job's history, oldest first. */
    public List<CheckpointStats> completedCheckpoints(String jobId) throws IOException, InterruptedException {
        List<CheckpointStats> out = new ArrayList<>();
        for (JsonNode c : get("/jobs/" + jobId + "/checkpoints").path("history")) {
            if (c.path("status").asText().equals("COMPLETED")) {
                out.add(0, new CheckpointStats(c.path("id").asLong(), c.path("state_size").asLong(),
                        c.path("checkpointed_size").asLong(), c.path("end_to_end_duration").asLong()));
            }
        }
        return out;
    }

    /** The id of the job's vertex whose name contains the text. */
    public String vertexId(String jobId, String nameContains) throws IOException, InterruptedException {
        List<String> names = new ArrayList<>();
        for (JsonNode v : get("/jobs/" + jobId).path("vertices")) {
            names.add(v.path("name").asText());
            if (v.path("name").asText().toLowerCase().contains(nameContains.toLowerCase())) {
                return v.path("id").asText();
            }
        }
        throw new IllegalArgumentException("No vertex named like '" + nameContains + "' in " + names);
    }

    /** Resource ids of the TaskManagers that run subtasks of a vertex. */
    public Set<String> taskManagersOf(String jobId, String vertexId) throws IOException, InterruptedException {
        Set<String> ids = new LinkedHashSet<>();
        for (JsonNode tm : get("/jobs/" + jobId + "/vertices/" + vertexId + "/taskmanagers").path("taskmanagers")) {
            String id = tm.path("taskmanager-id").asText();
            if (!id.isEmpty()) {
                ids.add(id);
            }
        }
        return ids;
    }

    /** Job ids and states of all jobs the cluster knows. */
    public List<String[]> jobs() throws IOException, InterruptedException {
        List<String[]> out = new ArrayList<>();
        for (JsonNode j : get("/jobs").path("jobs")) {
            out.add(new String[] {j.path("id").asText(), j.path("status").asText()});
        }
        return out;
    }
}
