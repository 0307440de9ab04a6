package io.kvstream.pipeline.model;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.TaskManagerOptions;

import org.junit.jupiter.api.Test;

class SlotThreadsTest {

    @Test
    void coresAreSharedBetweenSlots() {
        Configuration tm = new Configuration();
        tm.set(TaskManagerOptions.NUM_TASK_SLOTS, 4);
        assertThat(SlotThreads.resolve(0, tm, 16)).isEqualTo(4);
        assertThat(SlotThreads.resolve(0, tm, 2)).as("never below one").isEqualTo(1);
        assertThat(SlotThreads.resolve(6, tm, 16)).as("an explicit count wins").isEqualTo(6);
        assertThat(SlotThreads.resolve(0, new Configuration(), 8)).as("one slot by default").isEqualTo(8);
    }
}
