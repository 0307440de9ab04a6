package io.kvstream.runtime.cuda;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BlockTableTest {

    @Test
    void growsEveryHeadAndKeepsTheSlotsItHad() {
        PagePool pool = new PagePool(64, 4);
        BlockTable table = new BlockTable(3, 4);
        assertThat(table.ensureCapacity(5, pool)).isTrue();
        assertThat(table.pagesPerHead()).isEqualTo(2);
        assertThat(table.capacity()).isEqualTo(8);
        assertThat(pool.freePages()).isEqualTo(64 - 6);
        int[] before = new int[3 * 8];
        for (int lh = 0; lh < 3; lh++) {
            for (int slot = 0; slot < 8; slot++) {
                before[lh * 8 + slot] = table.address(lh, slot);
            }
        }
        assertThat(table.ensureCapacity(8, pool)).as("already fits").isTrue();
        assertThat(pool.freePages()).isEqualTo(64 - 6);
        assertThat(table.ensureCapacity(13, pool)).isTrue();
        assertThat(table.pagesPerHead()).isEqualTo(4);
        Set<Integer> addresses = new HashSet<>();
        for (int lh = 0; lh < 3; lh++) {
            for (int slot = 0; slot < 16; slot++) {
                int a = table.address(lh, slot);
                if (slot < 8) {
                    assertThat(a).as("head %s slot %s keeps its place", lh, slot).isEqualTo(before[lh * 8 + slot]);
                }
                // A slot address is page * pageTokens + offset in page.
                assertThat(a % 4).isEqualTo(slot % 4);
                addresses.add(a);
            }
        }
        assertThat(addresses).as("no two slots share a pool slot").hasSize(3 * 16);
        int[] copy = new int[table.size()];
        assertThat(table.copyTo(copy, 0)).isEqualTo(12);
        assertThat(copy[2 * 4 + 3] * 4 + 1).isEqualTo(table.address(2, 13));
    }

    @Test
    void failsWithoutTakingPagesWhenThePoolIsShort() {
        PagePool pool = new PagePool(5, 4);
        BlockTable table = new BlockTable(2, 4);
        assertThat(table.ensureCapacity(8, pool)).isTrue();
        assertThat(table.ensureCapacity(12, pool)).isFalse();
        assertThat(table.capacity()).isEqualTo(8);
        assertThat(pool.freePages()).isEqualTo(1);
        table.release(pool);
        assertThat(pool.freePages()).isEqualTo(5);
        assertThat(table.capacity()).isZero();
        assertThatThrownBy(() -> table.address(0, 0)).hasMessageContaining("outside");
    }
}
