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
import io.kvstream.kv.memory.MemorySpec;

import javax.annotation.Nullable;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * A {@code --kv} value: a codec, optionally {@code +} an eviction policy, optionally {@code +} a
 * memory tier for what a window evicts.
 *
 * <pre>
 * spec   := codec ['+' policy] ['+' memory] | long
 * memory := memory:retrieve=K[,follow=F][,share=S][,limit=BYTES][,queries=W][,page=P][,candidates=C]
 *           (needs a window)
 * codec  := full | fp16 | int8 | kivi4[:group=G,vgroup=C,residual=fp16|token] | kivi2[:...]
 * policy := window:sink=S,recent=W|F
 *         | h2o:budget=N|F[,recent=R]
 *         | snapkv:budget=N|F[,window=W][,pool=K]
 * </pre>
 *
 * A budget with a decimal point is a fraction ({@code 0.5}). {@code long} stands for {@link #LONG},
 * the spec for sessions past the model's trained context: it never attends over more than 1,024
 * tokens. Codecs and policies hold scratch
 * buffers, so every cache gets its own from {@link #newCodec} and {@link #newPolicy}.
 */
public final class KvSpec {

    private static final String CODECS = "full, fp16, int8, kivi4, kivi2";
    private static final String POLICIES = "window, h2o, snapkv";

    /** What {@code --kv long} means: sinks + retrieved blocks + window + a chunk stay within 1,024 slots. */
    public static final String LONG = "kivi2+window:sink=4,recent=252+memory:retrieve=8";

    private final String codec;
    private final int keyGroup;
    private final int valueGroup;
    /** KIVI's unfilled key group: fp16 as the paper keeps it, or quantized per token like values. */
    private final boolean tokenResidual;
    @Nullable private final String policy;
    @Nullable private final MemorySpec memory;

    private KvSpec(
            String codec, int keyGroup, int valueGroup, boolean tokenResidual, @Nullable String policy,
            @Nullable MemorySpec memory) {
        this.codec = codec;
        this.keyGroup = keyGroup;
        this.valueGroup = valueGroup;
        this.tokenResidual = tokenResidual;
        this.policy = policy;
        this.memory = memory;
    }

    public static KvSpec parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("empty kv spec: expected one of " + CODECS + ", optionally +policy");
        }
        String spec = text.trim().toLowerCase(Locale.ROOT);
        if (spec.equals("long")) {
            spec = LONG;
        }
        String[] parts = spec.split("\\+", -1);
        try {
            String policyPart = null;
            MemorySpec memory = null;
            for (int i = 1; i < parts.length; i++) {
                if (parts[i].startsWith("memory")) {
                    if (memory != null) {
                        throw new IllegalArgumentException("memory given twice");
                    }
                    memory = parseMemory(parts[i]);
                } else if (policyPart != null) {
                    throw new IllegalArgumentException("two eviction policies: " + policyPart + " and " + parts[i]);
                } else if (memory != null) {
                    throw new IllegalArgumentException("the eviction policy goes before the memory");
                } else {
                    policyPart = parts[i];
                }
            }
            String policy = policyPart == null ? null : canonicalPolicy(policyPart);
            if (memory != null && (policy == null || !policy.startsWith("window:"))) {
                throw new IllegalArgumentException(
                        "a memory keeps what a window evicts: give window:sink=S,recent=N before it");
            }
            KvSpec parsed = parseCodec(parts[0], policy, memory);
            parsed.newCodec(64);
            return parsed;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad kv spec '" + text + "': " + e.getMessage(), e);
        }
    }

    private static MemorySpec parseMemory(String part) {
        if (!part.startsWith("memory:")) {
            throw new IllegalArgumentException("memory needs retrieve=K, as in memory:retrieve=8");
        }
        Map<String, String> params = params(part.substring("memory:".length()));
        checkKeys("memory", params, "retrieve", "limit", "queries", "page", "candidates", "follow", "share", "place");
        require("memory", params, "retrieve");
        return new MemorySpec(
                intParam(params, "retrieve", 0),
                params.containsKey("limit") ? MemorySpec.parseBytes(params.get("limit")) : MemorySpec.DEFAULT_LIMIT,
                intParam(params, "queries", MemorySpec.DEFAULT_QUERIES),
                intParam(params, "page", MemorySpec.DEFAULT_PAGE),
                intParam(params, "candidates", MemorySpec.DEFAULT_CANDIDATES),
                intParam(params, "follow", MemorySpec.DEFAULT_FOLLOW),
                params.getOrDefault("share", MemorySpec.DEFAULT_SHARE),
                params.getOrDefault("place", MemorySpec.DEFAULT_PLACE));
    }

    private static KvSpec parseCodec(String part, @Nullable String policy, @Nullable MemorySpec memory) {
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
                return new KvSpec(name, 1, 0, false, policy, memory);
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
                return new KvSpec(name, group, vgroup, residual.equals("token"), policy, memory);
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

    /** The memory tier, or null when evicted tokens are dropped. */
    @Nullable
    public MemorySpec memory() {
        return memory;
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
        if (memory != null) {
            sb.append('+').append(memory.spec());
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
