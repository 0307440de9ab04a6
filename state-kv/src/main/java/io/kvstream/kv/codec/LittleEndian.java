package io.kvstream.kv.codec;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/** Little-endian access to byte arrays, for block payloads and headers. */
public final class LittleEndian {

    private static final VarHandle SHORT =
            MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT =
            MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle FLOAT =
            MethodHandles.byteArrayViewVarHandle(float[].class, ByteOrder.LITTLE_ENDIAN);

    private LittleEndian() {}

    public static short getShort(byte[] b, int off) {
        return (short) SHORT.get(b, off);
    }

    public static void putShort(byte[] b, int off, short v) {
        SHORT.set(b, off, v);
    }

    public static int getInt(byte[] b, int off) {
        return (int) INT.get(b, off);
    }

    public static void putInt(byte[] b, int off, int v) {
        INT.set(b, off, v);
    }

    public static float getFloat(byte[] b, int off) {
        return (float) FLOAT.get(b, off);
    }

    public static void putFloat(byte[] b, int off, float v) {
        FLOAT.set(b, off, v);
    }
}
