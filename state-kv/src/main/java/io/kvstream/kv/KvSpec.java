package io.kvstream.kv;

import io.kvstream.kv.codec.Fp16Codec;
import io.kvstream.kv.codec.Fp32Codec;
import io.kvstream.kv.codec.Int8Codec;
import io.kvstream.kv.codec.KiviCodec;
import io.kvstream.kv.codec.KvCodec;
import io.kvstream.kv.evict.Budget;
import io.kvstream.kv.evict.EvictionPolicy;
import io.kvstream.kv.evict.H2oPolicy;
import io.kvstream.kv.evict.SnapKvPolicy;
import io.kvstream.kv.evict.WindowPolicy;

import javax.annotation.Nullable;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * A {@code --kv} value: a codec, optionally {@code +} an eviction policy.
 *
 * <pre>
 * spec   := codec ['+' policy]
 * codec  := full | fp16 | int8 | kivi4[:group=G,vgroup=C,residual=fp16|token] | kivi2[:...]
 * policy := window:sink=S,recent=W|F
 *         | h2o:budget=N|F[,recent=R]
 *         | snapkv:budget=N|F[,window=W][,pool=K]
 * </pre>
 *
 * A budget with a decimal point is a fraction ({@code 0.5}). Codecs and policies hold scratch
 * buffers, so every cache gets its own from {@link #newCodec} and {@link #newPolicy}.
 */
public final class KvSpec {

    private static final String CODECS = "full, fp16, int8, kivi4, kivi2";
    private static final String POLICIES = "window, h2o, snapkv";

    private final String codec;
    private final int keyGroup;
    private final int valueGroup;
    /** KIVI's unfilled key group: fp16 as the paper keeps it, or quantized per token like values. */
    private final boolean tokenResidual;
    @Nullable private final String policy;

    private KvSpec(String codec, int keyGroup, int valueGroup, boolean tokenResidual, @Nullable String policy) {
        this.codec = codec;
        this.keyGroup = keyGroup;
        this.valueGroup = valueGroup;
        this.tokenResidual = tokenResidual;
        this.policy = policy;
    }

    public static KvSpec parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("empty kv spec: expected one of " + CODECS + ", optionally +policy");
        }
        String spec = text.trim().toLowerCase(Locale.ROOT);
        int plus = spec.indexOf('+');
        String codecPart = plus < 0 ? spec : spec.substring(0, plus);
        String policyPart = plus < 0 ? null : spec.substring(plus + 1);
        try {
            KvSpec parsed = parseCodec(codecPart, policyPart == null ? null : canonicalPolicy(policyPart));
            parsed.newCodec(64);
            return parsed;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad kv spec '" + text + "': " + e.getMessage(), e);
        }
    }

    private static KvSpec parseCodec(String part, @Nullable String policy) {
        int colon = part.indexOf(':');
        String name = colon < 0 ? part : part.substring(0, colon);
        Map<String, String> params = colon < 0 ? Map.of() : params(part.substring(colon + 1));
        switch (name) {
            case "full":
            case "fp16":
            case "int8":
                if (!params.isEmpty()) {
                    throw new IllegalArgumentException("codec " + name + " takes no parameters");
                }
                return new KvSpec(name, 1, 0, false, policy);
            case "kivi4":
            case "kivi2":
                checkKeys(name, params, "group", "vgroup", "residual");
                int group = intParam(params, "group", KiviCodec.DEFAULT_GROUP);
                int vgroup = intParam(params, "vgroup", KiviCodec.DEFAULT_VALUE_GROUP);
                if (group <= 0 || vgroup <= 0) {
                    throw new IllegalArgumentException("KIVI groups must be positive");
                }
                String residual = params.getOrDefault("residual", "fp16");
                if (!residual.equals("fp16") && !residual.equals("token")) {
                    throw new IllegalArgumentException("residual takes fp16 or token, not " + residual);
                }
                return new KvSpec(name, group, vgroup, residual.equals("token"), policy);
            default:
                throw new IllegalArgumentException("unknown codec '" + name + "': expected one of " + CODECS);
        }
    }

    private static String canonicalPolicy(String part) {
        int colon = part.indexOf(':');
        String name = colon < 0 ? part : part.substring(0, colon);
        Map<String, String> params = colon < 0 ? Map.of() : params(part.substring(colon + 1));
        return buildPolicy(name, params).spec();
    }

    private static EvictionPolicy buildPolicy(String name, Map<String, String> params) {
        switch (name) {
            case "window":
                checkKeys(name, params, "sink", "recent");
                require(name, params, "recent");
                return new WindowPolicy(intParam(params, "sink", 4), Budget.parse(params.get("recent")));
            case "h2o":
                checkKeys(name, params, "budget", "recent");
                require(name, params, "budget");
                return new H2oPolicy(
                        Budget.parse(params.get("budget")),
                        params.containsKey("recent") ? intParam(params, "recent", 0) : null);
            case "snapkv":
                checkKeys(name, params, "budget", "window", "pool");
                require(name, params, "budget");
                return new SnapKvPolicy(
                        Budget.parse(params.get("budget")),
                        intParam(params, "window", SnapKvPolicy.DEFAULT_WINDOW),
                        intParam(params, "pool", SnapKvPolicy.DEFAULT_POOL));
            case "":
                throw new IllegalArgumentException("missing eviction policy after '+': expected one of " + POLICIES);
            default:
                throw new IllegalArgumentException("unknown eviction policy '" + name + "': expected one of " + POLICIES);
        }
    }

    private static Map<String, String> params(String text) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String kv : text.split(",")) {
            int eq = kv.indexOf('=');
            if (eq <= 0 || eq == kv.length() - 1) {
                throw new IllegalArgumentException("parameter '" + kv + "' is not name=value");
            }
            if (out.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim()) != null) {
                throw new IllegalArgumentException("parameter '" + kv.substring(0, eq) + "' given twice");
            }
        }
        return out;
    }

    private static void checkKeys(String owner, Map<String, String> params, String... allowed) {
        for (String key : params.keySet()) {
            boolean ok = false;
            for (String a : allowed) {
                ok |= a.equals(key);
            }
            if (!ok) {
                throw new IllegalArgumentException(
                        "unknown parameter '" + key + "' for " + owner + ": expected " + String.join(", ", allowed));
            }
        }
    }

    private static void require(String owner, Map<String, String> params, String key) {
        if (!params.containsKey(key)) {
            throw new IllegalArgumentException(owner + " needs " + key + "=...");
        }
    }

    private static int intParam(Map<String, String> params, String key, int fallback) {
        String v = params.get(key);
        if (v == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("parameter " + key + "=" + v + " is not an integer", e);
        }
    }

    /** The codec's name: {@code full}, {@code fp16}, {@code int8}, {@code kivi4}, {@code kivi2}. */
    public String codecName() {
        return codec;
    }

    @Nullable
    public String policySpec() {
        return policy;
    }

    public boolean evicts() {
        return policy != null;
    }

    public KvCodec newCodec(int headDim) {
        switch (codec) {
            case "full":
                return new Fp32Codec(headDim);
            case "fp16":
                return new Fp16Codec(headDim);
            case "int8":
                return new Int8Codec(headDim);
            case "kivi4":
                return new KiviCodec(4, headDim, keyGroup, valueGroup, tokenResidual);
            case "kivi2":
                return new KiviCodec(2, headDim, keyGroup, valueGroup, tokenResidual);
            default:
                throw new IllegalStateException(codec);
        }
    }

    @Nullable
    public EvictionPolicy newPolicy() {
        if (policy == null) {
            return null;
        }
        int colon = policy.indexOf(':');
        return buildPolicy(policy.substring(0, colon), params(policy.substring(colon + 1)));
    }

    /** The canonical form: parsing it gives an equal spec. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(codec);
        if (codec.startsWith("kivi")
                && (keyGroup != KiviCodec.DEFAULT_GROUP || valueGroup != KiviCodec.DEFAULT_VALUE_GROUP)) {
            sb.append(":group=").append(keyGroup).append(",vgroup=").append(valueGroup);
        }
        if (tokenResidual) {
            sb.append(sb.indexOf(":") < 0 ? ':' : ',').append("residual=token");
        }
        if (policy != null) {
            sb.append('+').append(policy);
        }
        return sb.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof KvSpec && toString().equals(o.toString());
    }

    @Override
    public int hashCode() {
        return Objects.hash(toString());
    }
}
