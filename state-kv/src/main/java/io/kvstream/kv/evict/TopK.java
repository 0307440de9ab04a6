package io.kvstream.kv.evict;

import java.util.Arrays;

/** Top-k selection over slot scores without allocation; ties go to the more recent slot. */
public final class TopK {

    private float[] sorted = new float[0];
    private boolean[] chosen = new boolean[0];

    /**
     * Marks the {@code k} best of {@code scores[0, n)} and appends their indices, ascending, to
     * {@code keep} from {@code at}; returns the new end.
     */
    public int select(float[] scores, int n, int k, int[] keep, int at) {
        if (k >= n) {
            for (int i = 0; i < n; i++) {
                keep[at++] = i;
            }
            return at;
        }
        if (k <= 0) {
            return at;
        }
        if (sorted.length < n) {
            sorted = new float[Math.max(n, sorted.length * 2)];
            chosen = new boolean[sorted.length];
        }
        System.arraycopy(scores, 0, sorted, 0, n);
        Arrays.sort(sorted, 0, n);
        float threshold = sorted[n - k];
        int above = 0;
        for (int i = 0; i < n; i++) {
            if (scores[i] > threshold) {
                above++;
            }
        }
        int ties = k - above;
        for (int i = n - 1; i >= 0; i--) {
            float s = scores[i];
            boolean take = s > threshold || (s == threshold && ties-- > 0);
            chosen[i] = take;
        }
        for (int i = 0; i < n; i++) {
            if (chosen[i]) {
                keep[at++] = i;
            }
        }
        return at;
    }
}
