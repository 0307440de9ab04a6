package io.kvstream.pipeline.operator;

import io.kvstream.generate.ContinuousBatcher;

import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;
import org.apache.flink.util.function.ThrowingRunnable;

import java.time.Duration;
import java.util.function.IntSupplier;

/**
 * When the batcher's steps run. Each step is a mail of the task's mailbox that enqueues the next
 * while there is work, so input, timers and checkpoint barriers interleave with generation. From
 * idle, the first step waits (up to {@code maxWait}) until a batch's worth of sequences or tokens
 * is queued, on a processing-time timer.
 */
final class StepScheduler {

    private final MailboxExecutor mailbox;
    private final ProcessingTimeService time;
    private final ContinuousBatcher batcher;
    private final Duration maxWait;
    private final int maxSequences;
    private final int maxStepTokens;
    private final IntSupplier requests;
    private final ThrowingRunnable<Exception> step;

    private boolean stepping;
    private boolean waitTimerSet;
    /** While not stepping: when the first waiting request was submitted, and the tokens queued. */
    private long idleSinceNanos = -1;
    private long queuedTokens;

    /**
     * @param requests requests submitted and not finished
     * @param step runs one batched step and handles what it finished
     */
    StepScheduler(MailboxExecutor mailbox, ProcessingTimeService time, ContinuousBatcher batcher, Duration maxWait,
                  int maxSequences, int maxStepTokens, IntSupplier requests, ThrowingRunnable<Exception> step) {
        this.mailbox = mailbox;
        this.time = time;
        this.batcher = batcher;
        this.maxWait = maxWait;
        this.maxSequences = maxSequences;
        this.maxStepTokens = maxStepTokens;
        this.requests = requests;
        this.step = step;
    }

    /** A request of {@code promptTokens} tokens was submitted to the batcher. */
    void submitted(int promptTokens) {
        if (!stepping) {
            if (idleSinceNanos < 0) {
                idleSinceNanos = System.nanoTime();
            }
            queuedTokens += promptTokens;
        }
    }

    /** Starts stepping now, or once the first step's batch is worth it (or has waited enough). */
    void schedule() {
        if (stepping || !batcher.busy()) {
            return;
        }
        long waitNanos = maxWait.toNanos();
        if (waitNanos == 0
                || requests.getAsInt() >= maxSequences
                || queuedTokens >= maxStepTokens
                || System.nanoTime() - idleSinceNanos >= waitNanos) {
            start();
        } else if (!waitTimerSet) {
            waitTimerSet = true;
            time.registerTimer(time.getCurrentProcessingTime() + Math.max(1, maxWait.toMillis()), t -> {
                waitTimerSet = false;
                if (!stepping && batcher.busy()) {
                    start();
                }
            });
        }
    }

    /** Steps from now on, without waiting for a batch: the input is waiting for them. */
    void startNow() {
        if (!stepping) {
            start();
        }
    }

    private void start() {
        stepping = true;
        mailbox.execute(this::stepMail, "kvstream inference step");
    }

    private void stepMail() throws Exception {
        step.run();
        if (batcher.busy()) {
            mailbox.execute(this::stepMail, "kvstream inference step");
        } else {
            stepping = false;
            idleSinceNanos = -1;
            queuedTokens = 0;
        }
    }
}
