package io.kvstream.runtime.cuda;

import jcuda.CudaException;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.nio.charset.StandardCharsets;

/**
 * Whether this process can use a CUDA device, found out once: JCuda's driver library loads
 * (it needs {@code libcuda.so.1}, the NVIDIA driver), {@code cuInit} succeeds and there is a
 * device. Any failure on the way is an answer, "unavailable: reason", never an exception, so that
 * callers can fall back to the CPU and tests can skip.
 */
public final class CudaDevice {

    private static final Logger LOG = LoggerFactory.getLogger(CudaDevice.class);

    /** Set to {@code true} to behave as if no device were present. */
    public static final String DISABLE_PROPERTY = "kvstream.cuda.disable";

    /**
     * The outcome of the probe.
     *
     * @param description the device (name, compute capability, memory, driver) when available,
     *     else why not
     */
    public record Probe(boolean available, String description) {}

    @Nullable private static volatile Probe probe;

    private CudaDevice() {}

    /** Probes on first use; later calls return the same answer. */
    public static Probe probe() {
        Probe p = probe;
        if (p == null) {
            synchronized (CudaDevice.class) {
                p = probe;
                if (p == null) {
                    p = run();
                    probe = p;
                    LOG.debug("CUDA probe: {}", p);
                }
            }
        }
        return p;
    }

    public static boolean available() {
        return probe().available();
    }

    private static Probe run() {
        if (Boolean.getBoolean(DISABLE_PROPERTY)) {
            return new Probe(false, "disabled by -D" + DISABLE_PROPERTY + "=true");
        }
        try {
            JCudaDriver.setExceptionsEnabled(true);
            JCudaDriver.cuInit(0);
            int[] count = new int[1];
            JCudaDriver.cuDeviceGetCount(count);
            if (count[0] == 0) {
                return new Probe(false, "the CUDA driver sees no device");
            }
            CUdevice device = new CUdevice();
            JCudaDriver.cuDeviceGet(device, 0);
            return new Probe(true, describe(device));
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            // JCuda's native library could not load: usually libcuda.so.1 (the driver) is absent.
            return new Probe(false, "JCuda's driver library did not load (" + linkFailure(e)
                    + "); a CUDA device needs the NVIDIA driver's libcuda.so.1");
        } catch (CudaException e) {
            return new Probe(false, "CUDA driver error: " + e.getMessage());
        } catch (RuntimeException e) {
            // JCuda's library loader reports some failures as plain runtime exceptions.
            return new Probe(false, "CUDA probe failed: " + e);
        }
    }

    /**
     * The line that says why: JCuda's loader reports every attempt with stack traces, and the one
     * that matters is the dynamic linker's (typically "libcuda.so.1: cannot open shared object
     * file").
     */
    static String linkFailure(Throwable e) {
        String message = String.valueOf(e.getMessage());
        String reason = null;
        for (String line : message.split("\\R")) {
            int at = line.indexOf("UnsatisfiedLinkError: ");
            if (at >= 0) {
                reason = line.substring(at + "UnsatisfiedLinkError: ".length());
            }
        }
        if (reason == null) {
            return message.split("\\R", 2)[0];
        }
        // "/tmp/libJCudaDriver-....so: libcuda.so.1: cannot open ...": the part after our library.
        int so = reason.indexOf(".so: ");
        return so >= 0 ? reason.substring(so + ".so: ".length()) : reason;
    }

    static String describe(CUdevice device) {
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, device);
        int end = 0;
        while (end < name.length && name[end] != 0) {
            end++;
        }
        int[] major = new int[1];
        int[] minor = new int[1];
        JCudaDriver.cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
        JCudaDriver.cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
        long[] bytes = new long[1];
        JCudaDriver.cuDeviceTotalMem(bytes, device);
        int[] driver = new int[1];
        JCudaDriver.cuDriverGetVersion(driver);
        return String.format("%s, compute capability %d.%d, %d MiB, driver CUDA %d.%d",
                new String(name, 0, end, StandardCharsets.US_ASCII), major[0], minor[0], bytes[0] >> 20,
                driver[0] / 1000, driver[0] % 1000 / 10);
    }
}
