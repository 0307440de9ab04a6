package io.kvstream.runtime.cuda;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PagePoolTest {

    @Test
    void allocatesDistinctPagesAllOrNothing() {
        PagePool pool = new PagePool(5, 16);
        int[] pages = new int[5];
        assertThat(pool.allocate(3, pages, 0)).isTrue();
        assertThat(pool.freePages()).isEqualTo(2);
        // Three more do not fit: nothing is taken.
        assertThat(pool.allocate(3, pages, 3)).isFalse();
        assertThat(pool.freePages()).isEqualTo(2);
        assertThat(pool.allocate(2, pages, 3)).isTrue();
        assertThat(pages).containsExactlyInAnyOrder(0, 1, 2, 3, 4);
        assertThat(pool.freePages()).isZero();
    }

    @Test
    void releasedPagesComeBackAndDoubleFreesFail() {
        PagePool pool = new PagePool(4, 8);
        int[] pages = new int[4];
        pool.allocate(4, pages, 0);
        pool.release(pages, 1, 2);
        assertThat(pool.freePages()).isEqualTo(2);
        int[] again = new int[2];
        assertThat(pool.allocate(2, again, 0)).isTrue();
        assertThat(again).containsExactlyInAnyOrder(pages[1], pages[2]);
        pool.release(again, 0, 1);
        assertThatThrownBy(() -> pool.release(again, 0, 1)).hasMessageContaining("released twice");
        assertThatThrownBy(() -> pool.release(new int[] {9}, 0, 1)).hasMessageContaining("not in a pool of 4");
    }

    @Test
    void rejectsPoolsWhoseSlotAddressesOverflowAnInt() {
        assertThatThrownBy(() -> new PagePool(Integer.MAX_VALUE / 8, 16)).hasMessageContaining("overflow");
    }
}
