package io.kvstream.client;

import javax.imageio.ImageIO;

import java.awt.image.BufferedImage;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Video frames from image files, as the model takes them: square, {@code size x size}, packed
 * 8-bit RGB, row-major. PNG goes through {@code javax.imageio}; PPM (binary P6 and ASCII P3),
 * which video tools write without any codec ({@code ffmpeg -i in.mp4 frames/%05d.ppm}), is read
 * here because ImageIO cannot.
 */
public final class Frames {

    private Frames() {}

    /** The PNG and PPM files of a folder, sorted by name: the order a frame dump numbers them. */
    public static List<Path> list(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(Files::isRegularFile).filter(Frames::isImage).sorted().forEach(files::add);
        }
        if (files.isEmpty()) {
            throw new IOException(dir + ": no .png or .ppm files");
        }
        return files;
    }

    static boolean isImage(Path p) {
        String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".png") || name.endsWith(".ppm");
    }

    /** Reads an image and fits it to {@code size x size}: the central square, averaged down (or repeated up). */
    public static byte[] read(Path file, int size) throws IOException {
        Image image = file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".ppm")
                ? readPpm(file) : readImageIo(file);
        return fit(image, size);
    }

    /** Packed RGB pixels. */
    record Image(int width, int height, byte[] rgb) {}

    private static Image readImageIo(Path file) throws IOException {
        BufferedImage img = ImageIO.read(file.toFile());
        if (img == null) {
            throw new IOException(file + ": not an image ImageIO can read");
        }
        int w = img.getWidth();
        int h = img.getHeight();
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                // Alpha, palettes and grey levels all come out as sRGB here.
                int argb = img.getRGB(x, y);
                int o = (y * w + x) * 3;
                rgb[o] = (byte) (argb >> 16);
                rgb[o + 1] = (byte) (argb >> 8);
                rgb[o + 2] = (byte) argb;
            }
        }
        return new Image(w, h, rgb);
    }

    static Image readPpm(Path file) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
            String magic = token(in, file);
            if (!magic.equals("P6") && !magic.equals("P3")) {
                throw new IOException(file + ": not a PPM image (magic " + magic + ")");
            }
            int w = number(in, file);
            int h = number(in, file);
            int max = number(in, file);
            if (w <= 0 || h <= 0 || max <= 0 || max > 65535 || (long) w * h > 64L << 20) {
                throw new IOException(String.format("%s: bad PPM header %dx%d max %d", file, w, h, max));
            }
            byte[] rgb = new byte[w * h * 3];
            boolean wide = max > 255;
            for (int i = 0; i < rgb.length; i++) {
                int v;
                if (magic.equals("P3")) {
                    v = number(in, file);
                } else if (wide) {
                    v = (read(in, file) << 8) | read(in, file);
                } else {
                    v = read(in, file);
                }
                rgb[i] = (byte) Math.round(Math.min(v, max) * 255.0 / max);
            }
            return new Image(w, h, rgb);
        }
    }

    private static int read(InputStream in, Path file) throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new IOException(file + ": PPM image ends early");
        }
        return b;
    }

    // Header tokens are separated by whitespace and may be followed by '#' comments; exactly one
    // whitespace byte separates the header from binary pixels, which this consumes.
    private static String token(InputStream in, Path file) throws IOException {
        StringBuilder s = new StringBuilder();
        while (true) {
            int b = read(in, file);
            if (b == '#') {
                while (b != '\n' && b != '\r') {
                    b = read(in, file);
                }
                continue;
            }
            if (Character.isWhitespace(b)) {
                if (s.length() > 0) {
                    return s.toString();
                }
                continue;
            }
            s.append((char) b);
            if (s.length() > 16) {
                throw new IOException(file + ": not a PPM image");
            }
        }
    }

    private static int number(InputStream in, Path file) throws IOException {
        String t = token(in, file);
        try {
            return Integer.parseInt(t);
        } catch (NumberFormatException e) {
            throw new IOException(file + ": bad number '" + t + "' in PPM image", e);
        }
    }

    /**
     * The central square of the image, resampled to {@code size x size}: each output pixel is the
     * mean of the source pixels its area covers (so downscaling does not alias), or the nearest
     * source pixel when upscaling.
     */
    static byte[] fit(Image image, int size) {
        int side = Math.min(image.width(), image.height());
        int x0 = (image.width() - side) / 2;
        int y0 = (image.height() - side) / 2;
        byte[] out = new byte[size * size * 3];
        for (int oy = 0; oy < size; oy++) {
            int sy0 = y0 + oy * side / size;
            int sy1 = Math.max(sy0 + 1, y0 + (oy + 1) * side / size);
            for (int ox = 0; ox < size; ox++) {
                int sx0 = x0 + ox * side / size;
                int sx1 = Math.max(sx0 + 1, x0 + (ox + 1) * side / size);
                long r = 0;
                long g = 0;
                long b = 0;
                for (int y = sy0; y < sy1; y++) {
                    for (int x = sx0; x < sx1; x++) {
                        int i = (y * image.width() + x) * 3;
                        r += image.rgb()[i] & 0xFF;
                        g += image.rgb()[i + 1] & 0xFF;
                        b += image.rgb()[i + 2] & 0xFF;
                    }
                }
                long n = (long) (sy1 - sy0) * (sx1 - sx0);
                int o = (oy * size + ox) * 3;
                out[o] = (byte) ((r + n / 2) / n);
                out[o + 1] = (byte) ((g + n / 2) / n);
                out[o + 2] = (byte) ((b + n / 2) / n);
            }
        }
        return out;
    }
}
