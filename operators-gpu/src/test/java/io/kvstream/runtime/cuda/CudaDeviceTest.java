package io.kvstream.runtime.cuda;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class CudaDeviceTest {

    @Test
    void theLinkFailureIsTheDynamicLinkersLine() {
        // What JCuda's LibUtils reports on a machine without the NVIDIA driver, shortened.
        UnsatisfiedLinkError e = new UnsatisfiedLinkError(String.join("\n",
                "Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"",
                "Operating system name: Linux",
                "Stack trace from the attempt to load the library as a file:",
                "java.lang.UnsatisfiedLinkError: no JCudaDriver-12.6.0-linux-x86_64 in java.library.path: /usr/lib",
                "\tat java.base/java.lang.ClassLoader.loadLibrary(ClassLoader.java:2434)",
                "Stack trace from the attempt to load the library as a resource:",
                "java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: cannot"
                        + " open shared object file: No such file or directory",
                "\tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)"));
        assertThat(CudaDevice.linkFailure(e))
                .isEqualTo("libcuda.so.1: cannot open shared object file: No such file or directory");
        assertThat(CudaDevice.linkFailure(new UnsatisfiedLinkError("just this\nand more"))).isEqualTo("just this");
    }

    @Test
    void anUnavailableProbeIsOneLine() {
        CudaDevice.Probe probe = CudaDevice.probe();
        assertThat(probe.description()).isNotBlank().doesNotContain("\n");
    }
}
