package io.kvstream.runtime;

import com.sun.management.HotSpotDiagnosticMXBean;

import javax.annotation.Nullable;

import java.lang.management.ManagementFactory;

/** A HotSpot option of this JVM, read through its diagnostic bean. */
public final class VmOption {

    private VmOption() {}

    /**
     * The option's value, or null where it cannot be read: a JVM other than HotSpot, a runtime
     * without the management module, or an option this JVM does not know.
     */
    @Nullable
    public static String value(String name) {
        try {
            HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            return vm == null ? null : vm.getVMOption(name).getValue();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** Whether a boolean option is on; false where it cannot be read. */
    public static boolean isOn(String name) {
        return Boolean.parseBoolean(value(name));
    }
}
