package io.kvstream.model.gguf;

import javax.annotation.Nullable;

import java.util.Arrays;

/**
 * One typed metadata value. Scalars are boxed Java values of the same width ({@code UINT8} and
 * {@code INT8} as {@link Byte}, 16-bit as {@link Short}, 32-bit as {@link Integer}, 64-bit as
 * {@link Long}; unsigned values keep their bits). Arrays are primitive Java arrays of the element
 * type ({@code byte[]}, {@code short[]}, {@code int[]}, {@code long[]}, {@code float[]}, {@code
 * double[]}, {@code boolean[]}, {@code String[]}), and arrays of arrays are {@code GgufValue[]}.
 *
 * @param type the value's type
 * @param elementType for arrays, the elements' type; null otherwise
 * @param value the value as described above
 */
public record GgufValue(GgufValueType type, @Nullable GgufValueType elementType, Object value) {

    public GgufValue {
        if ((type == GgufValueType.ARRAY) != (elementType != null)) {
            throw new IllegalArgumentException(
                    "an element type is given exactly for arrays, got " + type + "/" + elementType);
        }
    }

    public static GgufValue of(GgufValueType type, Object value) {
        return new GgufValue(type, null, value);
    }

    public static GgufValue array(GgufValueType elementType, Object value) {
        return new GgufValue(GgufValueType.ARRAY, elementType, value);
    }

    public static GgufValue string(String value) {
        return of(GgufValueType.STRING, value);
    }

    public static GgufValue uint32(int value) {
        return of(GgufValueType.UINT32, value);
    }

    public static GgufValue float32(float value) {
        return of(GgufValueType.FLOAT32, value);
    }

    /** Number of elements of an array value. */
    public int length() {
        if (type != GgufValueType.ARRAY) {
            throw new IllegalStateException("not an array: " + type);
        }
        return java.lang.reflect.Array.getLength(value);
    }

    @Override
    public String toString() {
        if (type != GgufValueType.ARRAY) {
            return type + ":" + value;
        }
        int n = length();
        return String.format("ARRAY<%s>[%d]", elementType, n);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof GgufValue)) {
            return false;
        }
        GgufValue other = (GgufValue) o;
        return type == other.type
                && elementType == other.elementType
                && Arrays.deepEquals(new Object[] {value}, new Object[] {other.value});
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(new Object[] {type, elementType, value});
    }
}
