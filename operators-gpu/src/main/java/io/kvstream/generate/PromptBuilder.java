package io.kvstream.generate;

import io.kvstream.model.vision.PatchProjector;
import io.kvstream.model.vision.VisionConfig;
import io.kvstream.tokenizer.BpeTokenizer;

import javax.annotation.Nullable;

/**
 * Turns text and video frames into a {@link Prompt}: text through the tokenizer (special tokens
 * inline), a frame as its marker text followed by one image token per patch, each carrying the
 * projector's embedding of that patch.
 *
 * <p>With a drop threshold set, a patch whose mean absolute difference to the same patch of the
 * previous frame is below it (0..255 units) is left out and takes no position, as the reference
 * model was trained (TimeChat-Online's redundant-token dropping).
 */
public final class PromptBuilder {

    private final BpeTokenizer tokenizer;
    @Nullable private final PatchProjector projector;
    private final float dropThreshold;
    private final int imageToken;
    private final float[] embeddings;

    /**
     * @param dropThreshold patches changing less than this since the previous frame are dropped;
     *     0 keeps every patch
     */
    public PromptBuilder(
            BpeTokenizer tokenizer, @Nullable PatchProjector projector, float dropThreshold) {
        if (!(dropThreshold >= 0f)) {
            throw new IllegalArgumentException("drop threshold must be >= 0, got " + dropThreshold);
        }
        this.tokenizer = tokenizer;
        this.projector = projector;
        this.dropThreshold = dropThreshold;
        if (projector != null) {
            VisionConfig vc = projector.config();
            this.imageToken = tokenizer.specialId(vc.imageToken());
            this.embeddings = new float[vc.patchesPerFrame() * vc.embeddingLength()];
        } else {
            this.imageToken = -1;
            this.embeddings = new float[0];
        }
    }

    public BpeTokenizer tokenizer() {
        return tokenizer;
    }

    public boolean hasVision() {
        return projector != null;
    }

    /**
     * Whether any of {@code tokens} is an image position: its input was a patch embedding, which
     * the token id alone cannot reproduce.
     */
    public boolean hasImagePositions(int[] tokens) {
        if (imageToken < 0) {
            return false;
        }
        for (int t : tokens) {
            if (t == imageToken) {
                return true;
            }
        }
        return false;
    }

    /** Appends text; special tokens written in it become their ids. */
    public void appendText(Prompt prompt, String text) {
        prompt.add(tokenizer.encode(text));
    }

    /**
     * Appends frame {@code index}: its marker, then its patches.
     *
     * @param previous the session's previous frame, for dropping unchanged patches; null for the
     *     first frame
     * @return the number of patches dropped
     */
    public int appendFrame(Prompt prompt, int index, byte[] rgb, @Nullable byte[] previous) {
        if (projector == null) {
            throw new IllegalStateException(
                    "a video frame needs a vision projector: load one with --mmproj");
        }
        VisionConfig vc = projector.config();
        if (rgb.length != vc.frameBytes()) {
            throw new IllegalArgumentException(
                    String.format(
                            "frame %d has %d bytes; the projector takes %dx%d RGB frames of %d bytes",
                            index, rgb.length, vc.frameSize(), vc.frameSize(), vc.frameBytes()));
        }
        appendText(prompt, vc.frameMarker(index));
        projector.project(rgb, embeddings);
        int dim = vc.embeddingLength();
        int dropped = 0;
        for (int p = 0; p < vc.patchesPerFrame(); p++) {
            if (previous != null && dropThreshold > 0f && unchanged(vc, rgb, previous, p)) {
                dropped++;
                continue;
            }
            prompt.addEmbedded(imageToken, embeddings, p * dim, dim);
        }
        return dropped;
    }

    /** Mean absolute difference of patch {@code p} below the threshold, compared exactly. */
    private boolean unchanged(VisionConfig vc, byte[] rgb, byte[] previous, int p) {
        if (previous.length != rgb.length) {
            return false;
        }
        int side = vc.patchesPerSide();
        int ps = vc.patchSize();
        int ch = vc.channels();
        int y0 = ps * (p / side);
        int x0 = ps * (p % side);
        long sum = 0;
        for (int y = y0; y < y0 + ps; y++) {
            int row = (y * vc.frameSize() + x0) * ch;
            for (int i = 0; i < ps * ch; i++) {
                sum += Math.abs((rgb[row + i] & 0xFF) - (previous[row + i] & 0xFF));
            }
        }
        return sum < (double) dropThreshold * vc.patchDim();
    }
}
