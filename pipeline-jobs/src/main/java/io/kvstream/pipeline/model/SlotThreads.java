package io.kvstream.pipeline.model;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.TaskManagerOptions;

/**
 * How many forward-pass threads a subtask takes when the job does not say: the cores the
 * TaskManager's JVM sees divided by its slots. Each slot may run an inference subtask, and a
 * subtask that took every core would contend with its neighbours for all of them.
 *
 * <p>The cores come from the JVM, which honours container limits, and not from {@code
 * taskmanager.cpu.cores}: a standalone TaskManager gets that set to its slot count by the
 * start-up scripts whatever the machine has.
 */
public final class SlotThreads {

    private SlotThreads() {}

    /**
     * @param requested the job's {@code --threads}; positive values are used as they are
     * @param taskManager the TaskManager's configuration, for {@code taskmanager.numberOfTaskSlots}
     */
    public static int resolve(int requested, Configuration taskManager) {
        return resolve(requested, taskManager, Runtime.getRuntime().availableProcessors());
    }

    static int resolve(int requested, Configuration taskManager, int cores) {
        if (requested > 0) {
            return requested;
        }
        int slots = Math.max(1, taskManager.get(TaskManagerOptions.NUM_TASK_SLOTS));
        return Math.max(1, cores / slots);
    }
}
