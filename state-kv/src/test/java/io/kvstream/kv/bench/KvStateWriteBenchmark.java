package io.kvstream.kv.bench;

import static org.apache.flink.util.Preconditions.checkArgument;
import static org.apache.flink.util.Preconditions.checkState;

import io.kvstream.kv.CompressedKvCache;
import io.kvstream.kv.KvSpec;
import io.kvstream.kv.RopeSpec;
import io.kvstream.kv.block.EncodedBlock;
import io.kvstream.kv.state.KvRocksDbOptionsFactory;

import org.apache.flink.state.rocksdb.PredefinedOptions;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.apache.flink.state.rocksdb.RocksDBResourceContainer;
import org.apache.flink.util.FileUtils;
import org.rocksdb.Checkpoint;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.Statistics;
import org.rocksdb.TickerType;
import org.rocksdb.WriteOptions;

import javax.annotation.Nullable;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * What {@link KvRocksDbOptionsFactory} does to the bytes RocksDB writes and keeps, against the
 * options Flink's RocksDB backend uses when no factory is set.
 *
 * <p>Both option sets come from Flink's own {@link RocksDBResourceContainer} with {@link
 * PredefinedOptions#DEFAULT} and Flink's configurable-option defaults, once without a factory
 * and once with ours, so the baseline is what a job gets, not plain RocksDB defaults. Flink's
 * managed-memory block cache and write buffer manager are left out (they bound memory, not bytes
 * written); writes go without WAL, as Flink's do.
 *
 * <p>The workload plays sessions of a chat service: {@code --active} sessions at a time, each
 * taking {@code --turns} turns of {@code --min-tokens..--max-tokens} tokens into a real {@link
 * CompressedKvCache} of the reference model's shape; after each turn the dirty blocks are put
 * under (key group, session, block index) as Flink's MapState lays them out. Every {@code
 * --checkpoint-every} turns a RocksDB checkpoint is taken, as Flink's incremental snapshot does
 * (it flushes the memtable and hard-links the live files), and the bytes Flink would upload are
 * counted: every new {@code .sst} file, and every other file (blob files included) again each
 * time, since Flink 2.2 shares only {@code .sst} files between incremental checkpoints. The
 * same seed gives both option sets the same puts.
 *
 * <pre>
 * mvn -o -q -B -pl state-kv test-compile dependency:build-classpath \
 *     -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * nice -n 5 java -Xmx3g \
 *     -cp state-kv/target/test-classes:state-kv/target/classes:$(cat state-kv/target/bench.cp) \
 *     io.kvstream.kv.bench.KvStateWriteBenchmark --sessions 500 --turns 20 --codecs kivi2
 * </pre>
 *
 * (About three minutes on two shared cores; {@code --sessions 200 --codecs fp16} writes as much
 * again in two.)
 *
 * Options: {@code --sessions N --turns N --min-tokens N --max-tokens N --active N
 * --checkpoint-every TURNS --codecs a,b --options a,b --dir PATH --seed N --keep-files}; option
 * sets are {@code flink-default} (no factory), {@code kvstream-factory} (as configured by
 * default), {@code factory-blobs} (with {@link KvRocksDbOptionsFactory#BLOB_FILES}) and two blob
 * garbage collection variants of it. "Disk written" is flush plus compaction output as RocksDB's
 * statistics count it (blob files included; Linux's {@code write_bytes} for the process agrees);
 * "seconds" is the time spent in RocksDB calls, checkpoints and the final wait for compactions,
 * not in encoding the blocks.
 */
public final class KvStateWriteBenchmark {

    // The reference model: 8 layers, 4 query heads sharing 2 kv heads of dim 64.
    private static final int LAYERS = 8;
    private static final int HEADS = 4;
    private static final int KV_HEADS = 2;
    private static final int HEAD_DIM = 64;
    private static final int MAX_TOKENS = 32768;
    private static final RopeSpec ROPE = new RopeSpec(HEAD_DIM, 10000f, false);

    /** Flink's default max parallelism bounds key groups at 128; two bytes in the key either way. */
    private static final int KEY_GROUPS = 128;

    private static final long MB = 1L << 20;

    private final Settings settings;

    private KvStateWriteBenchmark(Settings settings) {
        this.settings = settings;
    }

    public static void main(String[] args) throws Exception {
        Settings settings = Settings.parse(args);
        RocksDB.loadLibrary();
        new KvStateWriteBenchmark(settings).runAll();
    }

    private void runAll() throws Exception {
        System.out.printf(
                "sessions=%d turns=%d tokens/turn=%d..%d active=%d checkpoint every %d turns, seed %d%n",
                settings.sessions, settings.turns, settings.minTokens, settings.maxTokens,
                settings.active, settings.checkpointEvery, settings.seed);
        List<Result> results = new ArrayList<>();
        for (String codec : settings.codecs) {
            for (String set : settings.optionSets) {
                Result r = run(codec, set, OPTION_SETS.get(set).get());
                System.out.println(r.detail());
                results.add(r);
            }
        }
        printTable(results);
    }

    /**
     * Option sets by name: Flink's defaults, our factory, and variants of it for comparison
     * (each applied on top of the factory's options).
     */
    private static final Map<String, Supplier<RocksDBOptionsFactory>> OPTION_SETS = new LinkedHashMap<>();

    static {
        OPTION_SETS.put("flink-default", () -> null);
        OPTION_SETS.put("kvstream-factory", KvRocksDbOptionsFactory::new);
        OPTION_SETS.put("factory-blobs", KvStateWriteBenchmark::withBlobFiles);
        // Blob garbage collection over all blob files, or the older half, instead of the oldest quarter.
        OPTION_SETS.put("factory-blobs-gc-all", () -> new Variant(
                cf -> cf.setBlobGarbageCollectionAgeCutoff(1.0).setBlobGarbageCollectionForceThreshold(0.5)));
        OPTION_SETS.put("factory-blobs-gc-half", () -> new Variant(
                cf -> cf.setBlobGarbageCollectionAgeCutoff(0.5).setBlobGarbageCollectionForceThreshold(0.5)));
    }

    private static KvRocksDbOptionsFactory withBlobFiles() {
        return new KvRocksDbOptionsFactory(
                true,
                KvRocksDbOptionsFactory.MIN_BLOB_SIZE.defaultValue().getBytes(),
                KvRocksDbOptionsFactory.WRITE_BUFFER_SIZE.defaultValue().getBytes(),
                KvRocksDbOptionsFactory.BLOB_FILE_SIZE.defaultValue().getBytes());
    }

    /** Our factory with blob files, then one change. */
    private static final class Variant implements RocksDBOptionsFactory {
        private static final long serialVersionUID = 1L;

        private final KvRocksDbOptionsFactory base = withBlobFiles();
        private final java.util.function.UnaryOperator<ColumnFamilyOptions> change;

        Variant(java.util.function.UnaryOperator<ColumnFamilyOptions> change) {
            this.change = change;
        }

        @Override
        public DBOptions createDBOptions(DBOptions current, java.util.Collection<AutoCloseable> handlesToClose) {
            return base.createDBOptions(current, handlesToClose);
        }

        @Override
        public ColumnFamilyOptions createColumnOptions(
                ColumnFamilyOptions current, java.util.Collection<AutoCloseable> handlesToClose) {
            return change.apply(base.createColumnOptions(current, handlesToClose));
        }
    }

    private Result run(String codec, String label, @Nullable RocksDBOptionsFactory factory) throws Exception {
        Path dir = Files.createTempDirectory(settings.dir, "kvbench-" + codec + "-" + label + "-");
        Path db = dir.resolve("db");
        Path checkpoints = dir.resolve("chk");
        Files.createDirectories(checkpoints);
        long osWritesBefore = osWriteBytes();
        long start = System.nanoTime();
        try (RocksDBResourceContainer container = new RocksDBResourceContainer(PredefinedOptions.DEFAULT, factory);
                Statistics statistics = new Statistics()) {
            DBOptions dbOptions = container.getDbOptions().setStatistics(statistics);
            ColumnFamilyOptions columnOptions = container.getColumnOptions();
            WriteOptions writeOptions = container.getWriteOptions();
            if (settings.dumpOptions) {
                dumpOptions(label, dbOptions, columnOptions, writeOptions);
            }
            try (Options options = new Options(dbOptions, columnOptions);
                    RocksDB rocks = RocksDB.open(options, db.toString());
                    Checkpoint checkpoint = Checkpoint.create(rocks)) {
                StateWriter writer = new StateWriter(rocks, writeOptions, checkpoint, checkpoints);
                new Workload(settings, codec).replay(writer);
                long waitStart = System.nanoTime();
                waitForCompactions(rocks);
                writer.dbNanos += System.nanoTime() - waitStart;
                // A last checkpoint once compactions settled: the files a full native snapshot copies.
                long finalBytes = writer.checkpoint(false);
                long seconds = System.nanoTime() - start;
                Result r = new Result(
                        codec, label, writer.userBytes, writer.puts,
                        statistics.getTickerCount(TickerType.BYTES_WRITTEN),
                        statistics.getTickerCount(TickerType.FLUSH_WRITE_BYTES),
                        statistics.getTickerCount(TickerType.COMPACT_WRITE_BYTES),
                        statistics.getTickerCount(TickerType.COMPACT_READ_BYTES),
                        statistics.getTickerCount(TickerType.BLOB_DB_BLOB_FILE_BYTES_WRITTEN),
                        statistics.getTickerCount(TickerType.BLOB_DB_GC_BYTES_RELOCATED),
                        statistics.getTickerCount(TickerType.WAL_FILE_BYTES),
                        osWriteBytes() - osWritesBefore,
                        finalBytes,
                        writer.liveSst, writer.liveBlob,
                        rocks.getLongProperty("rocksdb.live-blob-file-garbage-size"),
                        writer.uploadedBytes, writer.checkpointCount,
                        writer.dbNanos / 1e9, seconds / 1e9);
                checkState(r.rocksUserBytes >= r.userBytes, "RocksDB counted fewer bytes than were put");
                return r;
            }
        } finally {
            if (!settings.keepFiles) {
                FileUtils.deleteDirectory(dir.toFile());
            }
        }
    }

    private static void waitForCompactions(RocksDB rocks) throws RocksDBException, InterruptedException {
        // Pending and running compactions, plus the flushes that may trigger more.
        while (rocks.getLongProperty("rocksdb.compaction-pending") > 0
                || rocks.getLongProperty("rocksdb.num-running-compactions") > 0
                || rocks.getLongProperty("rocksdb.num-running-flushes") > 0
                || rocks.getLongProperty("rocksdb.mem-table-flush-pending") > 0) {
            Thread.sleep(50);
        }
    }

    private static void dumpOptions(String label, DBOptions db, ColumnFamilyOptions cf, WriteOptions write) {
        System.out.printf(
                "[%s] maxBackgroundJobs=%d writeBuffer=%dMB maxWriteBuffers=%d targetFileBase=%dMB "
                        + "maxBytesLevelBase=%dMB dynamicLevels=%s compression=%s perLevel=%s blobs=%s "
                        + "minBlob=%d blobFile=%dMB blobGc=%s ageCutoff=%.2f forceThreshold=%.2f "
                        + "blobStartLevel=%d disableWAL=%s%n",
                label, db.maxBackgroundJobs(), cf.writeBufferSize() / MB, cf.maxWriteBufferNumber(),
                cf.targetFileSizeBase() / MB, cf.maxBytesForLevelBase() / MB,
                cf.levelCompactionDynamicLevelBytes(), cf.compressionType(), cf.compressionPerLevel(),
                cf.enableBlobFiles(), cf.minBlobSize(), cf.blobFileSize() / MB,
                cf.enableBlobGarbageCollection(), cf.blobGarbageCollectionAgeCutoff(),
                cf.blobGarbageCollectionForceThreshold(), cf.blobFileStartingLevel(), write.disableWAL());
    }

    /** Bytes this process caused to be sent to storage, from Linux's per-process I/O counters. */
    private static long osWriteBytes() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/io"))) {
            return lines.filter(l -> l.startsWith("write_bytes:"))
                    .mapToLong(l -> Long.parseLong(l.substring("write_bytes:".length()).trim()))
                    .findFirst()
                    .orElse(-1);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static void printTable(List<Result> results) {
        System.out.println();
        System.out.println("| codec | options | user MB written | disk MB written | write amplification "
                + "| final size MB | incremental checkpoints, MB uploaded | seconds |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|---:|");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "| %s | %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.1f |%n",
                    r.codec, r.label, mb(r.userBytes), mb(r.diskBytes()), r.writeAmplification(),
                    mb(r.finalBytes), mb(r.uploadedBytes), r.dbSeconds);
        }
        // Each option set against the first one run for the same codec.
        Map<String, Result> firsts = new LinkedHashMap<>();
        for (Result r : results) {
            Result base = firsts.putIfAbsent(r.codec, r);
            if (base == null) {
                continue;
            }
            System.out.printf(Locale.ROOT, "| %s | %s / %s | | %.2f | %.2f | %.2f | %.2f | %.2f |%n",
                    r.codec, r.label, base.label, (double) r.diskBytes() / base.diskBytes(),
                    r.writeAmplification() / base.writeAmplification(),
                    (double) r.finalBytes / base.finalBytes,
                    (double) r.uploadedBytes / base.uploadedBytes, r.dbSeconds / base.dbSeconds);
        }
    }

    private static double mb(long bytes) {
        return bytes / (double) MB;
    }

    // ------------------------------------------------------------------------------------------

    /** Puts blocks as Flink's RocksDBMapState would and takes checkpoints as Flink's snapshots do. */
    private static final class StateWriter {
        private final RocksDB rocks;
        private final WriteOptions writeOptions;
        private final Checkpoint checkpoint;
        private final Path checkpoints;
        /** .sst files some earlier checkpoint uploaded; Flink refers to those instead of copying. */
        private final Set<String> uploadedSst = new HashSet<>();

        long userBytes;
        long puts;
        long uploadedBytes;
        int checkpointCount;
        long liveSst;
        long liveBlob;
        long dbNanos;

        StateWriter(RocksDB rocks, WriteOptions writeOptions, Checkpoint checkpoint, Path checkpoints) {
            this.rocks = rocks;
            this.writeOptions = writeOptions;
            this.checkpoint = checkpoint;
            this.checkpoints = checkpoints;
        }

        void put(int session, EncodedBlock block) throws RocksDBException {
            byte[] key = key(session, block.index());
            byte[] value = value(block);
            long t = System.nanoTime();
            rocks.put(writeOptions, key, value);
            dbNanos += System.nanoTime() - t;
            userBytes += key.length + value.length;
            puts++;
        }

        /**
         * Takes a RocksDB checkpoint (which flushes the memtable, as Flink's incremental snapshot
         * relies on) and returns the bytes of all its files.
         *
         * @param incremental whether to count it as one of the job's incremental checkpoints
         */
        long checkpoint(boolean incremental) throws RocksDBException, IOException {
            long t = System.nanoTime();
            Path target = checkpoints.resolve("chk-" + checkpointCount);
            checkpoint.createCheckpoint(target.toString());
            dbNanos += System.nanoTime() - t;
            long total = 0;
            long sst = 0;
            long blob = 0;
            File[] files = target.toFile().listFiles();
            checkState(files != null, "no checkpoint at %s", target);
            for (File f : files) {
                String name = f.getName();
                long size = f.length();
                total += size;
                if (name.endsWith(".sst")) {
                    sst += size;
                    if (incremental && uploadedSst.add(name)) {
                        uploadedBytes += size;
                    }
                } else {
                    if (name.endsWith(".blob")) {
                        blob += size;
                    }
                    if (incremental) {
                        uploadedBytes += size;
                    }
                }
            }
            if (incremental) {
                checkpointCount++;
            }
            liveSst = sst;
            liveBlob = blob;
            FileUtils.deleteDirectory(target.toFile());
            return total;
        }

        /** Key group, then the session key and the map key, as RocksDBMapState composes them. */
        private static byte[] key(int session, int blockIndex) {
            byte[] id = ("session-" + session).getBytes(StandardCharsets.UTF_8);
            int keyGroup = Math.floorMod(Integer.hashCode(session) * 0x9E3779B9, KEY_GROUPS);
            return ByteBuffer.allocate(2 + 1 + id.length + 4)
                    .putShort((short) keyGroup)
                    .put((byte) id.length)
                    .put(id)
                    .putInt(blockIndex)
                    .array();
        }

        /** The null flag RocksDBMapState writes before a value, then EncodedBlockSerializer's framing. */
        private static byte[] value(EncodedBlock block) {
            byte[] bytes = block.bytes();
            return ByteBuffer.allocate(1 + 8 + bytes.length)
                    .put((byte) 0)
                    .putInt(block.index())
                    .putInt(bytes.length)
                    .put(bytes)
                    .array();
        }
    }

    /**
     * Sessions joining, chatting and leaving: {@code active} at a time, each turn to a random one,
     * every session's turn rewriting its open block and adding new ones. Deterministic per seed.
     */
    private static final class Workload {
        /** Random normals to copy from: generating fresh ones per token would dominate the run. */
        private static final int POOL = 1 << 20;

        private final Settings settings;
        private final String codec;
        private final float[] normals;

        Workload(Settings settings, String codec) {
            this.settings = settings;
            this.codec = codec;
            SplittableRandom random = new SplittableRandom(settings.seed);
            this.normals = new float[POOL];
            for (int i = 0; i < POOL; i++) {
                normals[i] = (float) random.nextGaussian();
            }
        }

        void replay(StateWriter writer) throws RocksDBException, IOException {
            SplittableRandom random = new SplittableRandom(settings.seed * 31 + 7);
            List<Session> active = new ArrayList<>();
            int nextSession = 0;
            long turns = 0;
            while (nextSession < settings.sessions || !active.isEmpty()) {
                while (active.size() < settings.active && nextSession < settings.sessions) {
                    active.add(new Session(nextSession++, newCache()));
                }
                int pick = random.nextInt(active.size());
                Session s = active.get(pick);
                int tokens = settings.minTokens + random.nextInt(settings.maxTokens - settings.minTokens + 1);
                feed(s.cache, tokens, random);
                for (int b : s.cache.dirtyBlocks()) {
                    EncodedBlock block = s.cache.block(b);
                    checkState(block != null, "no eviction, so no block goes away");
                    writer.put(s.id, block);
                }
                s.cache.markClean();
                if (++s.turns == settings.turns) {
                    // Swap-remove: order among active sessions does not matter, turns are random.
                    active.set(pick, active.get(active.size() - 1));
                    active.remove(active.size() - 1);
                }
                if (++turns % settings.checkpointEvery == 0) {
                    writer.checkpoint(true);
                }
            }
            writer.checkpoint(true);
        }

        private CompressedKvCache newCache() {
            return new CompressedKvCache(KvSpec.parse(codec), LAYERS, HEADS, KV_HEADS, HEAD_DIM, MAX_TOKENS, ROPE);
        }

        /** Writes keys (with the outlier channels KIVI's per-channel keys are for) and values, commits. */
        private void feed(CompressedKvCache cache, int tokens, SplittableRandom random) {
            cache.reserve(tokens);
            int n = tokens * HEAD_DIM;
            for (int l = 0; l < LAYERS; l++) {
                for (int h = 0; h < KV_HEADS; h++) {
                    int at = cache.length(l, h) * HEAD_DIM;
                    float[] keys = cache.keys(l, h);
                    float[] values = cache.values(l, h);
                    int from = random.nextInt(POOL - n);
                    for (int i = 0; i < n; i++) {
                        float x = normals[from + i];
                        keys[at + i] = i % 16 == 3 ? 8f * x : x;
                    }
                    System.arraycopy(normals, random.nextInt(POOL - n), values, at, n);
                }
            }
            cache.commit(tokens);
        }
    }

    private static final class Session {
        final int id;
        final CompressedKvCache cache;
        int turns;

        Session(int id, CompressedKvCache cache) {
            this.id = id;
            this.cache = cache;
        }
    }

    private static final class Result {
        final String codec;
        final String label;
        final long userBytes;
        final long puts;
        final long rocksUserBytes;
        final long flushWrite;
        final long compactWrite;
        final long compactRead;
        final long blobWrite;
        final long blobGcRelocated;
        final long walBytes;
        final long osWriteBytes;
        final long finalBytes;
        final long liveSst;
        final long liveBlob;
        final long blobGarbage;
        final long uploadedBytes;
        final int checkpoints;
        final double dbSeconds;
        final double totalSeconds;

        Result(String codec, String label, long userBytes, long puts, long rocksUserBytes, long flushWrite,
                long compactWrite, long compactRead, long blobWrite, long blobGcRelocated, long walBytes,
                long osWriteBytes, long finalBytes, long liveSst, long liveBlob, long blobGarbage,
                long uploadedBytes, int checkpoints, double dbSeconds, double totalSeconds) {
            this.codec = codec;
            this.label = label;
            this.userBytes = userBytes;
            this.puts = puts;
            this.rocksUserBytes = rocksUserBytes;
            this.flushWrite = flushWrite;
            this.compactWrite = compactWrite;
            this.compactRead = compactRead;
            this.blobWrite = blobWrite;
            this.blobGcRelocated = blobGcRelocated;
            this.walBytes = walBytes;
            this.osWriteBytes = osWriteBytes;
            this.finalBytes = finalBytes;
            this.liveSst = liveSst;
            this.liveBlob = liveBlob;
            this.blobGarbage = blobGarbage;
            this.uploadedBytes = uploadedBytes;
            this.checkpoints = checkpoints;
            this.dbSeconds = dbSeconds;
            this.totalSeconds = totalSeconds;
        }

        /** Flush and compaction output; both tickers count every file the job wrote, blob files included. */
        long diskBytes() {
            return flushWrite + compactWrite + walBytes;
        }

        double writeAmplification() {
            return (double) diskBytes() / userBytes;
        }

        String detail() {
            return String.format(Locale.ROOT,
                    "%s %s: %d puts, user %.1f MB (RocksDB BYTES_WRITTEN %.1f MB); flush %.1f MB, compaction %.1f MB "
                            + "(read %.1f MB), of which blob files %.1f MB, blob GC relocated %.1f MB, WAL %.1f MB; "
                            + "OS write_bytes %.1f MB; final %.1f MB (sst %.1f, blob %.1f, blob garbage %.1f); "
                            + "%d incremental checkpoints uploaded %.1f MB; %.1f s in RocksDB, %.1f s in all",
                    codec, label, puts, mb(userBytes), mb(rocksUserBytes), mb(flushWrite), mb(compactWrite),
                    mb(compactRead), mb(blobWrite), mb(blobGcRelocated), mb(walBytes), mb(osWriteBytes),
                    mb(finalBytes), mb(liveSst), mb(liveBlob), mb(blobGarbage), checkpoints, mb(uploadedBytes),
                    dbSeconds, totalSeconds);
        }
    }

    private static final class Settings {
        int sessions = 500;
        int turns = 20;
        int minTokens = 30;
        int maxTokens = 100;
        int active = 32;
        int checkpointEvery = 100;
        List<String> codecs = List.of("kivi2", "fp16");
        List<String> optionSets = List.of("flink-default", "kvstream-factory", "factory-blobs");
        Path dir = Path.of(System.getProperty("java.io.tmpdir"));
        long seed = 1;
        boolean keepFiles;
        boolean dumpOptions = true;

        static Settings parse(String[] args) {
            Settings s = new Settings();
            for (int i = 0; i < args.length; i++) {
                String name = args[i];
                if (name.equals("--keep-files")) {
                    s.keepFiles = true;
                    continue;
                }
                checkArgument(i + 1 < args.length, "%s needs a value", name);
                String value = args[++i];
                switch (name) {
                    case "--sessions": s.sessions = Integer.parseInt(value); break;
                    case "--turns": s.turns = Integer.parseInt(value); break;
                    case "--min-tokens": s.minTokens = Integer.parseInt(value); break;
                    case "--max-tokens": s.maxTokens = Integer.parseInt(value); break;
                    case "--active": s.active = Integer.parseInt(value); break;
                    case "--checkpoint-every": s.checkpointEvery = Integer.parseInt(value); break;
                    case "--codecs": s.codecs = List.of(value.split(",")); break;
                    case "--options": s.optionSets = List.of(value.split(",")); break;
                    case "--dir": s.dir = Path.of(value); break;
                    case "--seed": s.seed = Long.parseLong(value); break;
                    default: throw new IllegalArgumentException("unknown option " + name);
                }
            }
            checkArgument(s.sessions > 0 && s.turns > 0 && s.active > 0 && s.checkpointEvery > 0,
                    "sessions, turns, active and checkpoint-every must be positive");
            checkArgument(0 < s.minTokens && s.minTokens <= s.maxTokens, "bad token range %s..%s",
                    s.minTokens, s.maxTokens);
            for (String codec : s.codecs) {
                KvSpec.parse(codec);
            }
            for (String set : s.optionSets) {
                checkArgument(OPTION_SETS.containsKey(set), "unknown option set %s: expected one of %s",
                        set, OPTION_SETS.keySet());
            }
            return s;
        }
    }
}
