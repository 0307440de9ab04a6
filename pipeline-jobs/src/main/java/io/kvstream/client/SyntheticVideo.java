package io.kvstream.client;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;

/**
 * Frames of the kind the reference model was trained on (its recipe's {@code video_sample}): a
 * fixed random background with a 4x4 glyph in one patch, the glyph changing every 2 to 6 frames,
 * light noise on every frame. The model names each glyph by a colour word; asking it "what was
 * shown at t=3?" should give the {@link #shown} glyph of frame 3. A solid colour frame means
 * nothing to it, which is why the demo does not use those.
 */
public final class SyntheticVideo {

    /** The glyphs' names, in the order of {@link #GLYPHS}. */
    public static final List<String> NAMES = List.of(
            "red", "green", "blue", "yellow", "purple", "orange", "white", "black", "pink", "brown");

    /**
     * The glyph patterns, 10 x 4 x 4 x 3 bytes: {@code numpy.random.default_rng(11).integers(0,
     * 256, size=(10, 4, 4, 3), dtype=uint8)} as in the training recipe ({@code tasks.py}).
     */
    static final byte[] GLYPHS = Base64.getDecoder().decode(
            "TsxAIhD66SBneg3MiqzQf3xkDJfey/uZ0+tQtrApWAeN8Ul833veJVQ3yGbTPJ/tNYo5jDcVBxJ2Q/GKlN04IVnQIsFMp8Xy"
            + "sfO8+lzDM5+QJEveVlV2Xjs5TyXbdOqC1YqYcWMTsKkTL5r+d6N6Rv9ZENso4FEjfuwFWX72vMnXZGQ/UcCcq8KngHW/fCuD"
            + "Arf38JmjFdGe3tPWYjKQjDfjdfsAKB373zWXImi7WjQqGvFO50XBjRuj6NIA1M572wXY+4w4cFpCf6btMspylwrvhLiWszw8"
            + "9WOOl7MnXc2IP/7iV5IJ3lEYo/fQZPYgUUpaxxMcknc9t4mvuffyRkMHuwPTJ0cV2QYB+S6bXOWOeq1NEx4RbpH1rD3XGM8l"
            + "bWyF27Z5YayWap8T+m3EMzEhUJDqL8TmQcH3/jcHlzdf/ImcLJV3CAX8rywcmGUzcXonccLugliZXRy6il0KeO6ZyVaHa/jn"
            + "cycXoJ1BhrLiM/S+BLjdVizwLOSuEFIEsYyKTqM06iga4wYB6msW/8KI/hZL8q91g3DU0fD957BxEkvb37n+DXfASH/ihLcI"
            + "VeAEMQdBjNix17sSTW5/ll60KAULmgdPQ8bJ7mmYP1HlvR5PsUDYFimKUsYxEzQs");

    public static final int SIZE = 16;
    private static final int PATCH = 4;

    private final Random random;
    private final byte[] background = new byte[SIZE * SIZE * 3];
    private final int location;
    private final List<Integer> shown = new ArrayList<>();
    private int glyph;
    private int hold;

    public SyntheticVideo(long seed) {
        this.random = new Random(seed);
        random.nextBytes(background);
        this.location = random.nextInt((SIZE / PATCH) * (SIZE / PATCH));
        this.glyph = random.nextInt(NAMES.size());
        this.hold = 2 + random.nextInt(5);
    }

    /** The next frame, 16 x 16 packed RGB. */
    public byte[] next() {
        if (hold == 0) {
            glyph = random.nextInt(NAMES.size());
            hold = 2 + random.nextInt(5);
        }
        hold--;
        shown.add(glyph);
        return frame(background, location, glyph, random);
    }

    /** The name of the glyph in frame {@code t}, for frames made so far. */
    public String shown(int t) {
        return NAMES.get(shown.get(t));
    }

    public int frames() {
        return shown.size();
    }

    static byte[] frame(byte[] background, int location, int glyph, Random noise) {
        byte[] img = new byte[SIZE * SIZE * 3];
        int y0 = (location / (SIZE / PATCH)) * PATCH;
        int x0 = (location % (SIZE / PATCH)) * PATCH;
        for (int y = 0; y < SIZE; y++) {
            for (int x = 0; x < SIZE; x++) {
                for (int c = 0; c < 3; c++) {
                    int i = (y * SIZE + x) * 3 + c;
                    boolean inGlyph = y >= y0 && y < y0 + PATCH && x >= x0 && x < x0 + PATCH;
                    int v = inGlyph
                            ? GLYPHS[glyph * PATCH * PATCH * 3 + ((y - y0) * PATCH + (x - x0)) * 3 + c] & 0xFF
                            : background[i] & 0xFF;
                    v += (int) Math.round(noise.nextGaussian() * 3);
                    img[i] = (byte) Math.max(0, Math.min(255, v));
                }
            }
        }
        return img;
    }
}
