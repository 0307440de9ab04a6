package io.kvstream.model.vision;

/**
 * Geometry of the video frames a {@link PatchProjector} embeds.
 *
 * @param frameSize frame width and height in pixels (frames are square)
 * @param patchSize patch width and height in pixels
 * @param channels colour channels per pixel (3: RGB)
 * @param imageToken the token every image position carries ({@code <|img|>})
 * @param frameMarker text that introduces a frame, {@code {index}} standing for its number
 * @param embeddingLength width of one patch embedding (the text model's dim)
 */
public record VisionConfig(
        int frameSize,
        int patchSize,
        int channels,
        String imageToken,
        String frameMarker,
        int embeddingLength) {

    public static final String DEFAULT_FRAME_MARKER = "<|frame|>t={index}";

    public VisionConfig {
        if (frameSize <= 0 || patchSize <= 0 || channels <= 0 || embeddingLength <= 0) {
            throw new IllegalArgumentException("vision dimensions must be positive: " + this);
        }
        if (frameSize % patchSize != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "frame size %d is not a multiple of patch size %d",
                            frameSize, patchSize));
        }
    }

    /** Patches along one side of a frame. */
    public int patchesPerSide() {
        return frameSize / patchSize;
    }

    /** Patches (image positions) per frame, in row-major order. */
    public int patchesPerFrame() {
        return patchesPerSide() * patchesPerSide();
    }

    /** Inputs of one patch: its pixels' channels. */
    public int patchDim() {
        return patchSize * patchSize * channels;
    }

    /** Bytes of one frame: row-major pixels, channels interleaved. */
    public int frameBytes() {
        return frameSize * frameSize * channels;
    }

    /** The marker text of frame {@code index}. */
    public String frameMarker(int index) {
        return frameMarker.replace("{index}", Integer.toString(index));
    }
}
