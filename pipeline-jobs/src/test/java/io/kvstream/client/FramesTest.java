package io.kvstream.client;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Frames from files: PNG through ImageIO, PPM by hand, fitted to the model's square frames. */
class FramesTest {

    /** 48 wide, 32 high: the central 32x32 square has four 16x16 quadrants of one colour each. */
    private static BufferedImage quadrants() {
        BufferedImage img = new BufferedImage(48, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 48; x++) {
                int rgb;
                if (x < 8 || x >= 40) {
                    rgb = 0xFFFFFF; // cropped away
                } else if (y < 16) {
                    rgb = x < 24 ? 0xFF0000 : 0x00FF00;
                } else {
                    rgb = x < 24 ? 0x0000FF : (x % 2 == 0 ? 0x000000 : 0x646464);
                }
                img.setRGB(x, y, rgb);
            }
        }
        return img;
    }

    @Test
    void pngIsCroppedToItsCentralSquareAndAveragedDown(@TempDir Path tmp) throws IOException {
        Path png = tmp.resolve("f.png");
        ImageIO.write(quadrants(), "png", png.toFile());
        byte[] rgb = Frames.read(png, 4);
        assertThat(rgb).hasSize(4 * 4 * 3);
        assertThat(pixel(rgb, 4, 0, 0)).containsExactly(255, 0, 0);
        assertThat(pixel(rgb, 4, 3, 0)).containsExactly(0, 255, 0);
        assertThat(pixel(rgb, 4, 0, 3)).containsExactly(0, 0, 255);
        // Alternating black and grey 100 columns average to 50: no white from the cropped border.
        assertThat(pixel(rgb, 4, 3, 3)).containsExactly(50, 50, 50);
    }

    @Test
    void binaryAndAsciiPpmWithCommentsReadTheSame(@TempDir Path tmp) throws IOException {
        Path p6 = tmp.resolve("b.ppm");
        byte[] header = "P6\n# made by hand\n2 2\n255\n".getBytes(StandardCharsets.US_ASCII);
        byte[] pixels = {(byte) 255, 0, 0, 0, (byte) 255, 0, 0, 0, (byte) 255, 10, 20, 30};
        byte[] file = new byte[header.length + pixels.length];
        System.arraycopy(header, 0, file, 0, header.length);
        System.arraycopy(pixels, 0, file, header.length, pixels.length);
        Files.write(p6, file);
        Path p3 = tmp.resolve("a.ppm");
        Files.writeString(p3, "P3 2 2 # comment\n255\n255 0 0  0 255 0\n0 0 255  10 20 30\n");
        assertThat(Frames.read(p6, 2)).containsExactly(pixels);
        assertThat(Frames.read(p3, 2)).containsExactly(pixels);
        // Scaling a 2x2 up to 4x4 repeats each pixel.
        byte[] up = Frames.read(p6, 4);
        assertThat(pixel(up, 4, 1, 1)).containsExactly(255, 0, 0);
        assertThat(pixel(up, 4, 2, 3)).containsExactly(10, 20, 30);
    }

    @Test
    void sixteenBitPpmIsScaledToEightBits(@TempDir Path tmp) throws IOException {
        Path p = tmp.resolve("w.ppm");
        Files.writeString(p, "P3 1 1 65535 65535 0 32768\n");
        assertThat(pixel(Frames.read(p, 1), 1, 0, 0)).containsExactly(255, 0, 128);
    }

    @Test
    void listSortsImagesByNameAndSkipsOtherFiles(@TempDir Path tmp) throws IOException {
        for (String name : new String[] {"00010.png", "00002.ppm", "notes.txt", "00001.PNG"}) {
            Files.write(tmp.resolve(name), new byte[0]);
        }
        assertThat(Frames.list(tmp)).extracting(p -> p.getFileName().toString())
                .containsExactly("00001.PNG", "00002.ppm", "00010.png");
        assertThatThrownBy(() -> Frames.list(tmp.resolve("00010.png").getParent().resolve("missing")))
                .isInstanceOf(IOException.class);
    }

    @Test
    void brokenFilesFailWithTheirName(@TempDir Path tmp) throws IOException {
        Path truncated = tmp.resolve("t.ppm");
        Files.writeString(truncated, "P6 4 4 255\nabc");
        assertThatThrownBy(() -> Frames.read(truncated, 16)).hasMessageContaining("t.ppm").hasMessageContaining("ends early");
        Path notPng = tmp.resolve("x.png");
        Files.writeString(notPng, "hello");
        assertThatThrownBy(() -> Frames.read(notPng, 16)).hasMessageContaining("x.png");
        Path empty = tmp.resolve("empty");
        Files.createDirectory(empty);
        assertThatThrownBy(() -> Frames.list(empty)).hasMessageContaining("no .png or .ppm");
    }

    private static List<Integer> pixel(byte[] rgb, int size, int x, int y) {
        int o = (y * size + x) * 3;
        return List.of(rgb[o] & 0xFF, rgb[o + 1] & 0xFF, rgb[o + 2] & 0xFF);
    }
}
