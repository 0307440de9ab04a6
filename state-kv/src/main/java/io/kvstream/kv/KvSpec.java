package io.kvstream.kv;

import static org.apache.flink.util.Preconditions.checkNotNull;

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
 * A {@code --kv} value: a codec, optionally {@code +} an eviction policy.
 *
 * <pre>
 * spec   := codec ['+' policy] ['+' memory] | long
 * codec  := full | fp16 | int8
 *         | kivi4[:group=G,vgroup=C,residual=fp16|int8|keys8|token,vbits=B|B0/B1/..,kmeta=fp16|q8] | kivi2[:...]
 * policy := window:sink=S,recent=W|F
 *         | h2o:budget=N|F[,recent=R]
 *         | snapkv:budget=N|F[,window=W][,pool=K]
 * memory := memory:retrieve=K[,follow=F][,share=S][,place=P][,limit=BYTES][,queries=W][,page=P][,match=M]
 *           [,candidates=C]   (after a window: it keeps what the window evicts)
 * </pre>
 *
 * A budget with a decimal point is a fraction ({@code 0.5}). {@code long} stands for {@link #LONG},
 * the spec for sessions past the model's trained context: it never attends over more than 1,024
 * tokens. Codecs and policies hold scratch
 * buffers, so every cache gets its own from {@link #newCodec} and {@link #newPolicy}.
 *
 * <p>Without parameters {@code kivi4} means {@code group=64,vgroup=64,residual=token} and {@code
 * kivi2} {@code group=32,vgroup=64,residual=keys8,vbits=3,kmeta=q8}: 2-bit keys, 3-bit values
 * (docs/kv-compression.md: chosen on one eval set, measured on others). The canonical form, which session state stores and compares on
 * restore, spells every KIVI parameter out, so that a later change of defaults can never make
 * stored blocks decode with another codec. Canonical forms written before that left defaults
 * out, and their defaults differ: {@link #canonicalStored} reads them as they were meant.
 *
 * <p>{@code vbits} are the value bits (2, 3 or 4; the codec's own bits when not given), one
 * number for every layer or one per layer separated by {@code /} (the cache then checks their
 * count against the model's layers). {@code kmeta} says how key groups store their scales and
 * zeros ({@link KiviCodec.KeyMeta}). Canonical forms before these existed meant {@code vbits}
 * equal to the codec's bits and {@code kmeta=fp16}.
 */
public final class KvSpec {

    private static final String CODECS = "full, fp16, int8, kivi4, kivi2";
    private static final String POLICIES = "window, h2o, snapkv";

    /**
     * The cache part of what {@code --kv long} means ({@link CacheSpec#LONG} adds patch dropping):
     * sinks + 4 retrieved blocks of 64 + a window of 252 + a chunk of at most 252 stay within 764
     * slots. Chosen on fresh long sessions (bench/make-long-eval.py), where 4 retrieved blocks
     * answered better than 8 or 12. A turn that names something only memory holds (a frame's
     * {@code t=16}, a fact's {@code locker code}) gets the 40 tokens before the named words and
     * the 8 after them, and attends over those instead of the window ({@code match=focus}).
     * Its codec is spelled out as it was measured (docs/memory.md).
     */
    public static final String LONG =
            "kivi2:group=32,vgroup=64,residual=fp16,vbits=2,kmeta=fp16+window:sink=4,recent=252"
                    + "+memory:retrieve=4,match=focus,span=40,after=8";

    private final String codec;
    private final int keyGroup;
    private final int valueGroup;
    /** KIVI's unfilled key group: fp16 as the paper keeps it, int8, or quantized per token. */
    @Nullable private final KiviCodec.Residual residual;
    /** KIVI's value bits: one entry for every layer, or one per layer. */
    @Nullable private final int[] valueBits;
    @Nullable private final KiviCodec.KeyMeta keyMeta;
    @Nullable private final String policy;
    @Nullable private final MemorySpec memory;

    /** What each KIVI codec means without parameters. */
    private static final Map<String, Map<String, String>> KIVI_DEFAULTS = Map.of(
            "kivi4", Map.of("group", "64", "vgroup", "64", "residual", "token"),
            "kivi2", Map.of("group", "32", "vgroup", "64", "residual", "keys8", "vbits", "3", "kmeta", "q8"));

    /**
     * The defaults of canonical forms written before KIVI parameters were spelled out (the
     * change that set today's defaults): {@code kivi2} there is {@code
     * kivi2:group=32,vgroup=64,residual=fp16}. State from when value groups of 32 were the
     * default reads as 64 here, and its blocks' headers (value group 32) then refuse it.
     */
    private static final Map<String, String> LEGACY_KIVI_DEFAULTS =
            Map.of("group", "32", "vgroup", "64", "residual", "fp16");

    private KvSpec(
            String codec, int keyGroup, int valueGroup, @Nullable KiviCodec.Residual residual,
            @Nullable int[] valueBits, @Nullable KiviCodec.KeyMeta keyMeta,
            @Nullable String policy, @Nullable MemorySpec memory) {
        this.codec = codec;
        this.keyGroup = keyGroup;
        this.valueGroup = valueGroup;
        this.residual = residual;
        this.valueBits = valueBits;
        this.keyMeta = keyMeta;
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
            KvSpec parsed = parseCodec(parts[0], policy, memory, KIVI_DEFAULTS.get(codecName(parts[0])));
            parsed.newCodec(64);
            return parsed;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad kv spec '" + text + "': " + e.getMessage(), e);
        }
    }

    /**
     * The canonical form of a spec that session state stored, read with the defaults of the
     * writer that stored it: canonical forms are this class's {@link #toString}, or the earlier
     * one that left KIVI defaults out. Compare it with a cache's spec to tell whether its blocks
     * can be decoded. A stored text that no longer parses is returned as it is (it then matches
     * no spec).
     */
    public static String canonicalStored(String stored) {
        int plus = stored.indexOf('+');
        String codecPart = plus < 0 ? stored : stored.substring(0, plus);
        String name = codecName(codecPart);
        if (!KIVI_DEFAULTS.containsKey(name)) {
            return stored;
        }
        try {
            KvSpec legacy = parseCodec(codecPart, null, null, LEGACY_KIVI_DEFAULTS);
            return legacy.toString() + (plus < 0 ? "" : stored.substring(plus));
        } catch (IllegalArgumentException e) {
            return stored;
        }
    }

    private static String codecName(String part) {
        int colon = part.indexOf(':');
        return colon < 0 ? part : part.substring(0, colon);
    }

    private static MemorySpec parseMemory(String part) {
        if (!part.startsWith("memory:")) {
            throw new IllegalArgumentException("memory needs retrieve=K, as in memory:retrieve=8");
        }
        Map<String, String> params = params(part.substring("memory:".length()));
        checkKeys("memory", params, "retrieve", "limit", "queries", "page", "candidates", "follow", "share", "place", "match", "span", "after");
        require("memory", params, "retrieve");
        return new MemorySpec(
                intParam(params, "retrieve", 0),
                params.containsKey("limit") ? MemorySpec.parseBytes(params.get("limit")) : MemorySpec.DEFAULT_LIMIT,
                intParam(params, "queries", MemorySpec.DEFAULT_QUERIES),
                intParam(params, "page", MemorySpec.DEFAULT_PAGE),
                intParam(params, "candidates", MemorySpec.DEFAULT_CANDIDATES),
                intParam(params, "follow", MemorySpec.DEFAULT_FOLLOW),
                params.getOrDefault("share", MemorySpec.DEFAULT_SHARE),
                params.getOrDefault("place", MemorySpec.DEFAULT_PLACE),
                params.getOrDefault("match", MemorySpec.DEFAULT_MATCH),
                intParam(params, "span", MemorySpec.DEFAULT_SPAN),
                intParam(params, "after", MemorySpec.AFTER_AS_SPAN));
    }

    /** @param kiviDefaults what a KIVI codec's parameters are when not given; null for the others */
    private static KvSpec parseCodec(
            String part, @Nullable String policy, @Nullable MemorySpec memory,
            @Nullable Map<String, String> kiviDefaults) {
        int colon = part.indexOf(':');
        String name = codecName(part);
        Map<String, String> params = colon < 0 ? Map.of() : params(part.substring(colon + 1));
        switch (name) {
            case "full":
            case "fp16":
            case "int8":
                if (!params.isEmpty()) {
                    throw new IllegalArgumentException("codec " + name + " takes no parameters");
                }
                return new KvSpec(name, 1, 0, null, null, null, policy, memory);
            case "kivi4":
            case "kivi2":
                checkKeys(name, params, "group", "vgroup", "residual", "vbits", "kmeta");
                Map<String, String> given = new LinkedHashMap<>(checkNotNull(kiviDefaults));
                given.putAll(params);
                int group = intParam(given, "group", 0);
                int vgroup = intParam(given, "vgroup", 0);
                if (group <= 0 || vgroup <= 0) {
                    throw new IllegalArgumentException("KIVI groups must be positive");
                }
                String bits = name.substring("kivi".length());
                return new KvSpec(
                        name, group, vgroup, residual(given.get("residual")),
                        valueBits(given.getOrDefault("vbits", bits)), keyMeta(given.getOrDefault("kmeta", "fp16")),
                        policy, memory);
            default:
                throw new IllegalArgumentException("unknown codec '" + name + "': expected one of " + CODECS);
        }
    }

    private static KiviCodec.Residual residual(String text) {
        for (KiviCodec.Residual r : KiviCodec.Residual.values()) {
            if (r.specName().equals(text)) {
                return r;
            }
        }
        throw new IllegalArgumentException("residual takes fp16, int8, keys8 or token, not " + text);
    }

    /** {@code B} for every layer or {@code B0/B1/...} per layer; one entry when all are equal. */
    private static int[] valueBits(String text) {
        String[] parts = text.split("/", -1);
        int[] bits = new int[parts.length];
        boolean uniform = true;
        for (int i = 0; i < parts.length; i++) {
            try {
                bits[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("vbits takes 2, 3 or 4 per layer, not " + text, e);
            }
            if (bits[i] < 2 || bits[i] > 4) {
                throw new IllegalArgumentException("vbits takes 2, 3 or 4 per layer, not " + text);
            }
            uniform &= bits[i] == bits[0];
        }
        return uniform ? new int[] {bits[0]} : bits;
    }

    private static KiviCodec.KeyMeta keyMeta(String text) {
        for (KiviCodec.KeyMeta m : KiviCodec.KeyMeta.values()) {
            if (m.specName().equals(text)) {
                return m;
            }
        }
        throw new IllegalArgumentException("kmeta takes fp16 or q8, not " + text);
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

    /** The codec of every layer; for per-layer value bits, layer 0's. */
    public KvCodec newCodec(int headDim) {
        return newCodec(headDim, 0);
    }

    /**
     * How many layers the spec's per-layer value bits name; 0 when one setting serves every
     * layer. A cache of another number of layers must refuse the spec.
     */
    public int layersNamed() {
        return valueBits != null && valueBits.length > 1 ? valueBits.length : 0;
    }

    /** The codec of {@code layer}'s runs (fresh scratch buffers on every call). */
    public KvCodec newCodec(int headDim, int layer) {
        switch (codec) {
            case "full":
                return new Fp32Codec(headDim);
            case "fp16":
                return new Fp16Codec(headDim);
            case "int8":
                return new Int8Codec(headDim);
            case "kivi4":
            case "kivi2":
                int bits = codec.charAt(4) - '0';
                int vbits = valueBits[valueBits.length == 1 ? 0 : layer];
                return new KiviCodec(bits, headDim, keyGroup, valueGroup, residual, vbits, keyMeta);
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

    /** The canonical form: parsing it gives an equal spec. KIVI parameters are all spelled out. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(codec);
        if (residual != null) {
            sb.append(":group=").append(keyGroup).append(",vgroup=").append(valueGroup)
                    .append(",residual=").append(residual.specName())
                    .append(",vbits=").append(valueBits[0]);
            for (int i = 1; i < valueBits.length; i++) {
                sb.append('/').append(valueBits[i]);
            }
            sb.append(",kmeta=").append(keyMeta.specName());
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
