package io.kvstream.runtime.cuda;

import io.kvstream.kv.DenseKvCache;
import io.kvstream.kv.KvCache;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class KvResidencyTest {

    /** One layer, two kv heads: two heads per cache in the pool. */
    private static DenseKvCache cache() {
        return new DenseKvCache(1, 2, 4, 1024);
    }

    @Test
    void evictsTheLeastRecentlySteppedCacheWhenThePoolRunsShort() {
        // 10 pages of 4 slots; a cache of 8 slots takes 2 pages in each of its 2 heads.
        KvResidency residency = new KvResidency(new PagePool(10, 4), 2);
        KvCache a = cache();
        KvCache b = cache();
        KvCache c = cache();
        KvResidency.Resident ra = residency.prepare(List.of(a), new int[] {8})[0];
        residency.prepare(List.of(b), new int[] {8});
        assertThat(residency.pool().freePages()).isEqualTo(2);
        KvResidency.Resident rc = residency.prepare(List.of(c), new int[] {8})[0];
        assertThat(rc.table().capacity()).isEqualTo(8);
        assertThat(residency.residentCount()).as("a went, b and c stay").isEqualTo(2);
        // a comes back as a new resident: the device holds none of it.
        KvResidency.Resident again = residency.prepare(List.of(a), new int[] {8})[0];
        assertThat(again).isNotSameAs(ra);
        assertThat(again.validSlots(a, 0)).isZero();
        assertThat(residency.residentCount()).as("b, the least recent, made room").isEqualTo(2);
    }

    @Test
    void aStepThatCannotFitSaysWhatToChange() {
        KvResidency residency = new KvResidency(new PagePool(6, 4), 2);
        assertThatThrownBy(() -> residency.prepare(List.of(cache(), cache()), new int[] {8, 8}))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cannot hold this step's 2 sequences")
                .hasMessageContaining("kvstream.cuda.kvPoolMb");
    }

    @Test
    void theMirrorIsCurrentOnlyWhileTheCacheIsAsSynced() {
        KvResidency residency = new KvResidency(new PagePool(16, 4), 2);
        DenseKvCache a = cache();
        a.reserve(3);
        a.commit(3);
        KvResidency.Resident r = residency.prepare(List.of(a), new int[] {4})[0];
        assertThat(r.validSlots(a, 1)).as("never sent").isZero();
        r.markSynced(a);
        assertThat(r.validSlots(a, 1)).isEqualTo(3);
        a.reserve(1);
        a.commit(1);
        assertThat(r.validSlots(a, 1)).as("changed behind the backend's back").isZero();
        r.markSynced(a);
        a.clear();
        assertThat(r.validSlots(a, 0)).isZero();
    }

    @Test
    void clearGivesEveryPageBack() {
        PagePool pool = new PagePool(16, 4);
        KvResidency residency = new KvResidency(pool, 2);
        residency.prepare(List.of(cache(), cache()), new int[] {5, 9});
        assertThat(pool.freePages()).isEqualTo(16 - 4 - 6);
        residency.clear();
        assertThat(pool.freePages()).isEqualTo(16);
        assertThat(residency.residentCount()).isZero();
    }
}
