package io.kvstream.runtime;

import java.util.Locale;

/** Where the forward pass runs, as {@code --device} names it. */
public enum Device {
    /** The Vector API backend. */
    CPU,
    /** The CUDA backend; an error when no device is usable. */
    CUDA,
    /** CUDA when a device is usable, else the CPU. */
    AUTO;

    /** {@code cpu}, {@code cuda} or {@code auto}, any case. */
    public static Device parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown device '" + name + "': expected cpu, cuda or auto", e);
        }
    }
}
