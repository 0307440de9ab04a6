package io.kvstream.it.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamTopics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.configuration.ConfigOption;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Checks the files under {@code deploy/} (and the commands in {@code docs/deploy.md}) against the
 * code: they parse, the classes they name exist, the job options they pass are options the job
 * accepts, the files the Dockerfile copies exist, ports and topics agree, Flink settings are keys
 * Flink knows, and the dashboard's metrics are metrics the operator registers.
 *
 * <p>Nothing here runs a container: a wrong reference in these files is otherwise found only when
 * someone deploys. Each failure names the file and the reference.
 */
class DeployFilesTest {

    private static final String JOB_CLASS = "io.kvstream.pipeline.KvstreamJob";
    private static final String JOB_JAR = "pipeline-jobs/target/kvstream-job.jar";
    private static final String OPERATOR_METRICS =
            "pipeline-jobs/src/main/java/io/kvstream/pipeline/operator/InferenceMetrics.java";
    /** Flink's Prometheus reporter: logical scope of operator metrics, then our group. */
    private static final String OPERATOR_PREFIX = "flink_taskmanager_job_task_operator_kvstream_";
    private static final String JOB_PREFIX = "flink_jobmanager_job_";

    private static final ObjectMapper JSON = new ObjectMapper();

    private static Path root;
    private static Set<String> jobOptions;

    @BeforeAll
    static void findRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("deploy"))) {
            dir = dir.getParent();
        }
        assertThat(dir).as("no deploy/ folder above %s", Path.of("").toAbsolutePath()).isNotNull();
        root = dir;
    }

    // ------------------------------------------------------------------ parsing

    @Test
    void everyYamlAndJsonFileParses() throws IOException {
        List<String> problems = new ArrayList<>();
        for (Path file : deployFiles()) {
            String name = file.getFileName().toString();
            try {
                if (name.endsWith(".json")) {
                    JSON.readTree(file.toFile());
                } else if (name.endsWith(".yaml") || name.endsWith(".yml")) {
                    yamlDocuments(file);
                }
            } catch (IOException | RuntimeException e) {
                problems.add(rel(file) + ": does not parse: " + e.getMessage());
            }
        }
        assertThat(problems).as("deploy files that do not parse").isEmpty();
    }

    // ------------------------------------------------------------------ classes

    private static final Pattern CLASS_NAME =
            Pattern.compile("\\b((?:io\\.kvstream|org\\.apache\\.flink)(?:\\.[a-z][a-z0-9_]*)+\\.[A-Z][A-Za-z0-9_$]*)");

    @Test
    void everyClassNamedExists() throws IOException {
        Set<String> problems = new java.util.LinkedHashSet<>();
        Path jar = root.resolve(JOB_JAR);
        for (Path file : filesToCheck()) {
            Matcher m = CLASS_NAME.matcher(Files.readString(file));
            while (m.find()) {
                String name = m.group(1);
                try {
                    Class.forName(name, false, getClass().getClassLoader());
                } catch (ClassNotFoundException | LinkageError e) {
                    problems.add(rel(file) + ": class " + name + " does not exist");
                    continue;
                }
                // Our classes reach the cluster only inside the job jar; Flink's are in the image.
                if (name.startsWith("io.kvstream.") && Files.exists(jar) && !jarHas(jar, name)) {
                    problems.add(rel(file) + ": class " + name + " is not in " + JOB_JAR);
                }
            }
        }
        assertThat(problems).as("classes named in deploy files").isEmpty();
    }

    // ------------------------------------------------------------------ job options

    @Test
    void everyJobOptionIsAccepted() throws IOException {
        Set<String> accepted = jobOptions();
        List<String> problems = new ArrayList<>();
        Map<String, List<String>> uses = jobArgumentLists();
        assertThat(uses).as("job argument lists found in deploy files and docs").isNotEmpty();
        for (Map.Entry<String, List<String>> use : uses.entrySet()) {
            for (String arg : use.getValue()) {
                if (arg.startsWith("--") && !accepted.contains(arg.substring(2))) {
                    problems.add(use.getKey() + ": " + arg + " is not an option of " + JOB_CLASS
                            + " (its --help lists " + accepted + ")");
                }
            }
        }
        assertThat(problems).as("job options in deploy files and docs").isEmpty();
    }

    /** The options {@code KvstreamJob --help} lists, run in a JVM of its own (it may exit). */
    private static synchronized Set<String> jobOptions() throws IOException {
        if (jobOptions != null) {
            return jobOptions;
        }
        try {
            Class.forName(JOB_CLASS, false, DeployFilesTest.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new AssertionError("The job class " + JOB_CLASS + ", which deploy/ runs, does not exist", e);
        }
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(
                        java.toString(), "--add-modules", "jdk.incubator.vector",
                        "-cp", System.getProperty("java.class.path"), JOB_CLASS, "--help")
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(JOB_CLASS + " --help did not finish within 60 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        Set<String> options = new TreeSet<>();
        Matcher m = Pattern.compile("(?<![\\w-])--([a-z][a-z0-9-]*)").matcher(out);
        while (m.find()) {
            options.add(m.group(1));
        }
        assertThat(options).as("options in the output of %s --help:%n%s", JOB_CLASS, out)
                .contains("bootstrap", "model");
        jobOptions = options;
        return options;
    }

    /** Where each file passes arguments to the job: label to argument list. */
    private static Map<String, List<String>> jobArgumentLists() throws IOException {
        Map<String, List<String>> uses = new LinkedHashMap<>();
        // Compose: the application-mode JobManager's command, after --job-classname CLASS.
        JsonNode compose = yamlDocuments(deploy("compose.yaml")).get(0);
        for (Iterator<Map.Entry<String, JsonNode>> it = compose.path("services").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> service = it.next();
            List<String> command = strings(service.getValue().path("command"));
            int at = command.indexOf("--job-classname");
            if (at >= 0) {
                uses.put("deploy/compose.yaml service " + service.getKey(), command.subList(at + 2, command.size()));
            }
        }
        // Kubernetes: spec.job.args of every FlinkDeployment.
        for (JsonNode doc : yamlDocuments(deploy("k8s/flinkdeployment.yaml"))) {
            if (doc.path("kind").asText().equals("FlinkDeployment")) {
                uses.put("deploy/k8s/flinkdeployment.yaml", strings(doc.path("spec").path("job").path("args")));
            }
        }
        // Docs: every command line that runs the job jar (continuation lines joined).
        Path docs = root.resolve("docs/deploy.md");
        if (Files.exists(docs)) {
            String text = Files.readString(docs).replace("\\\n", " ");
            int n = 0;
            for (String line : text.split("\n")) {
                n++;
                int at = line.indexOf("kvstream-job.jar ");
                if (at >= 0 && line.contains("flink run")) {
                    List<String> words = Stream.of(line.substring(at).trim().split("\\s+"))
                            .map(w -> w.replaceAll("[`,.;:)]+$", "")).collect(Collectors.toList());
                    uses.put("docs/deploy.md line " + n, words);
                }
            }
        }
        return uses;
    }

    // ------------------------------------------------------------------ Dockerfile

    @Test
    void everyPathTheDockerfileCopiesExists() throws IOException {
        List<String> problems = new ArrayList<>();
        Path dockerfile = deploy("Dockerfile");
        for (List<String> copy : dockerCopies(dockerfile)) {
            for (String source : copy.subList(0, copy.size() - 1)) {
                if (source.equals(JOB_JAR)) {
                    // Made by the build: checked once built, and always against the build's name.
                    Set<String> built = shadedJarNames();
                    if (!built.contains(Path.of(source).getFileName().toString())) {
                        problems.add(rel(dockerfile) + ": COPY " + source + ", but pipeline-jobs builds only " + built);
                    }
                    if (!Files.exists(root.resolve(source))) {
                        System.err.println("DeployFilesTest: " + source + " not built yet; only its name was checked");
                    }
                } else if (!Files.exists(root.resolve(source))) {
                    problems.add(rel(dockerfile) + ": COPY " + source + ": no such file in the repository");
                }
            }
        }
        assertThat(dockerCopies(dockerfile)).as("COPY lines of %s", rel(dockerfile)).isNotEmpty();
        // The root .dockerignore leaves out everything but what the Dockerfile copies.
        Path ignore = root.resolve(".dockerignore");
        if (Files.exists(ignore)) {
            List<String> kept = Files.readAllLines(ignore).stream()
                    .filter(l -> l.startsWith("!")).map(l -> l.substring(1).trim()).collect(Collectors.toList());
            for (List<String> copy : dockerCopies(dockerfile)) {
                for (String source : copy.subList(0, copy.size() - 1)) {
                    if (!kept.contains(source)) {
                        problems.add(".dockerignore: excludes " + source + ", which deploy/Dockerfile copies");
                    }
                }
            }
        }
        // Paths inside the image that the job is told to open must be where COPY puts them.
        Set<String> inImage = new TreeSet<>();
        for (List<String> copy : dockerCopies(dockerfile)) {
            String dest = copy.get(copy.size() - 1);
            for (String source : copy.subList(0, copy.size() - 1)) {
                inImage.add(dest.endsWith("/") ? dest + Path.of(source).getFileName() : dest);
            }
        }
        for (Path file : filesToCheck()) {
            Matcher m = Pattern.compile("(/opt/(?:kvstream|flink/usrlib)/[\\w./-]+)").matcher(Files.readString(file));
            while (m.find()) {
                String path = m.group(1).replaceAll("[.]$", "");
                if (!path.endsWith("/") && !inImage.contains(path) && !path.equals("/opt/flink/usrlib")) {
                    problems.add(rel(file) + ": " + path + " is not a file the Dockerfile puts in the image " + inImage);
                }
            }
        }
        // The CPU backend needs the Vector API module in every Flink JVM.
        if (!Files.readString(dockerfile).contains("--add-modules jdk.incubator.vector")) {
            problems.add(rel(dockerfile) + ": env.java.opts.all lacks --add-modules jdk.incubator.vector");
        }
        assertThat(problems).as("files the Dockerfile copies and the image paths used").isEmpty();
    }

    /** Sources and destination of each COPY, without flags. */
    private static List<List<String>> dockerCopies(Path dockerfile) throws IOException {
        List<List<String>> copies = new ArrayList<>();
        for (String line : Files.readString(dockerfile).replace("\\\n", " ").split("\n")) {
            String[] words = line.trim().split("\\s+");
            if (words.length > 2 && words[0].equalsIgnoreCase("COPY")) {
                copies.add(Stream.of(words).skip(1).filter(w -> !w.startsWith("--")).collect(Collectors.toList()));
            }
        }
        return copies;
    }

    /** The shaded jars' file names, from pipeline-jobs/pom.xml. */
    private static Set<String> shadedJarNames() throws IOException {
        Matcher m = Pattern.compile("<finalName>([^<]+)</finalName>")
                .matcher(Files.readString(root.resolve("pipeline-jobs/pom.xml")));
        Set<String> names = new TreeSet<>();
        while (m.find()) {
            names.add(m.group(1) + ".jar");
        }
        return names;
    }

    // ------------------------------------------------------------------ ports

    @Test
    void portsAgree() throws IOException {
        List<String> problems = new ArrayList<>();
        JsonNode compose = yamlDocuments(deploy("compose.yaml")).get(0);
        JsonNode services = compose.path("services");

        // Prometheus: the reporter's port is what prometheus.yml scrapes.
        Map<String, String> flink = composeFlinkProperties(compose);
        String promPort = flink.get("metrics.reporter.prom.port");
        if (promPort == null) {
            problems.add("deploy/compose.yaml: FLINK_PROPERTIES sets no metrics.reporter.prom.port");
        }
        JsonNode scrape = yamlDocuments(deploy("prometheus.yml")).get(0);
        for (JsonNode job : scrape.path("scrape_configs")) {
            for (JsonNode sc : job.path("static_configs")) {
                for (String target : strings(sc.path("targets"))) {
                    String host = target.substring(0, target.indexOf(':'));
                    String port = target.substring(target.indexOf(':') + 1);
                    if (!port.equals(promPort)) {
                        problems.add("deploy/prometheus.yml: target " + target + ", but the reporter listens on " + promPort);
                    }
                    if (!services.has(host)) {
                        problems.add("deploy/prometheus.yml: target " + target + " is no service of deploy/compose.yaml");
                    }
                }
            }
        }

        // Kafka: the job's --bootstrap and kafka-init's are a listener Kafka advertises.
        String advertised = services.path("kafka").path("environment").path("KAFKA_ADVERTISED_LISTENERS").asText();
        Set<String> listeners = Stream.of(advertised.split(","))
                .map(l -> l.substring(l.indexOf("://") + 3)).collect(Collectors.toSet());
        for (Map.Entry<String, List<String>> use : jobArgumentLists().entrySet()) {
            if (use.getKey().startsWith("deploy/compose.yaml")) {
                String bootstrap = valueOf(use.getValue(), "--bootstrap");
                if (!listeners.contains(bootstrap)) {
                    problems.add(use.getKey() + ": --bootstrap " + bootstrap + " is not a listener Kafka advertises " + listeners);
                }
            }
        }
        Matcher init = Pattern.compile("--bootstrap-server\\s+(\\S+)").matcher(services.path("kafka-init").toString());
        while (init.find()) {
            if (!listeners.contains(init.group(1))) {
                problems.add("deploy/compose.yaml service kafka-init: --bootstrap-server " + init.group(1)
                        + " is not a listener Kafka advertises " + listeners);
            }
        }

        // Kubernetes: reporter port = pod annotation = container port; --bootstrap = Strimzi's service.
        JsonNode fd = flinkDeployment();
        String k8sPort = fd.path("spec").path("flinkConfiguration").path("metrics.reporter.prom.port").asText(null);
        JsonNode pod = fd.path("spec").path("podTemplate");
        String annotated = pod.path("metadata").path("annotations").path("prometheus.io/port").asText(null);
        if (k8sPort == null || !k8sPort.equals(annotated)) {
            problems.add("deploy/k8s/flinkdeployment.yaml: metrics.reporter.prom.port " + k8sPort
                    + " differs from the prometheus.io/port annotation " + annotated);
        }
        for (JsonNode c : pod.path("spec").path("containers")) {
            for (JsonNode p : c.path("ports")) {
                if (p.path("name").asText().equals("metrics") && !p.path("containerPort").asText().equals(k8sPort)) {
                    problems.add("deploy/k8s/flinkdeployment.yaml: containerPort metrics " + p.path("containerPort")
                            + " differs from metrics.reporter.prom.port " + k8sPort);
                }
            }
        }
        Set<String> strimzi = new TreeSet<>();
        for (JsonNode doc : yamlDocuments(deploy("k8s/kafka-strimzi.yaml"))) {
            if (doc.path("kind").asText().equals("Kafka")) {
                for (JsonNode l : doc.path("spec").path("kafka").path("listeners")) {
                    if (!l.path("tls").asBoolean()) {
                        strimzi.add(doc.path("metadata").path("name").asText() + "-kafka-bootstrap:" + l.path("port").asText());
                    }
                }
            }
        }
        String k8sBootstrap = valueOf(strings(fd.path("spec").path("job").path("args")), "--bootstrap");
        if (!strimzi.contains(k8sBootstrap)) {
            problems.add("deploy/k8s/flinkdeployment.yaml: --bootstrap " + k8sBootstrap
                    + " is not a plain listener of deploy/k8s/kafka-strimzi.yaml " + strimzi);
        }
        assertThat(problems).as("ports and addresses across deploy files").isEmpty();
    }

    // ------------------------------------------------------------------ topics

    @Test
    void topicsAreCreatedAsKvstreamTopicsWould() throws IOException {
        Map<String, NewTopic> expected = KvstreamTopics.newTopics(
                        KvstreamKafkaConfig.builder().bootstrapServers("unused:9092").build())
                .stream().collect(Collectors.toMap(NewTopic::name, t -> t));
        List<String> problems = new ArrayList<>();

        Set<String> strimziTopics = new TreeSet<>();
        for (JsonNode doc : yamlDocuments(deploy("k8s/kafka-strimzi.yaml"))) {
            if (!doc.path("kind").asText().equals("KafkaTopic")) {
                continue;
            }
            String name = doc.path("spec").path("topicName").asText(doc.path("metadata").path("name").asText());
            strimziTopics.add(name);
            Map<String, String> config = new LinkedHashMap<>();
            doc.path("spec").path("config").fields().forEachRemaining(e -> config.put(e.getKey(), e.getValue().asText()));
            compareTopic("deploy/k8s/kafka-strimzi.yaml", name, doc.path("spec").path("partitions").asInt(), config,
                    expected, problems);
        }
        if (!strimziTopics.equals(expected.keySet())) {
            problems.add("deploy/k8s/kafka-strimzi.yaml: KafkaTopics " + strimziTopics + ", the job uses " + expected.keySet());
        }

        JsonNode init = yamlDocuments(deploy("compose.yaml")).get(0).path("services").path("kafka-init");
        Matcher m = Pattern.compile("(?m)^\\s*create (\\S+) (.*)$").matcher(String.join("\n", strings(init.path("command"))));
        Set<String> composeTopics = new TreeSet<>();
        while (m.find()) {
            composeTopics.add(m.group(1));
            List<String> args = List.of(m.group(2).trim().split("\\s+"));
            Map<String, String> config = new LinkedHashMap<>();
            for (int i = 0; i < args.size() - 1; i++) {
                if (args.get(i).equals("--config")) {
                    String[] kv = args.get(i + 1).split("=", 2);
                    config.put(kv[0], kv[1]);
                }
            }
            compareTopic("deploy/compose.yaml kafka-init", m.group(1), Integer.parseInt(valueOf(args, "--partitions")),
                    config, expected, problems);
        }
        if (!composeTopics.equals(expected.keySet())) {
            problems.add("deploy/compose.yaml kafka-init: creates " + composeTopics + ", the job uses " + expected.keySet());
        }
        assertThat(problems).as("topics in deploy files against KvstreamTopics").isEmpty();
    }

    private static void compareTopic(
            String where, String name, int partitions, Map<String, String> config,
            Map<String, NewTopic> expected, List<String> problems) {
        NewTopic want = expected.get(name);
        if (want == null) {
            problems.add(where + ": topic " + name + " is none of the job's " + expected.keySet());
            return;
        }
        if (partitions != want.numPartitions()) {
            problems.add(where + ": topic " + name + " has " + partitions + " partitions, KvstreamTopics makes "
                    + want.numPartitions());
        }
        for (String key : List.of("retention.ms", "max.message.bytes")) {
            String w = want.configs().get(key);
            if (w != null && !w.equals(config.get(key))) {
                problems.add(where + ": topic " + name + " " + key + "=" + config.get(key) + ", KvstreamTopics sets " + w);
            }
        }
    }

    // ------------------------------------------------------------------ Flink configuration

    @Test
    void flinkSettingsAreKeysFlinkKnows() throws Exception {
        Set<String> known = knownFlinkKeys();
        List<String> problems = new ArrayList<>();
        Map<String, Map<String, String>> configs = new LinkedHashMap<>();
        configs.put("deploy/compose.yaml FLINK_PROPERTIES", composeFlinkProperties(yamlDocuments(deploy("compose.yaml")).get(0)));
        Map<String, String> k8s = new LinkedHashMap<>();
        flinkDeployment().path("spec").path("flinkConfiguration").fields()
                .forEachRemaining(e -> k8s.put(e.getKey(), e.getValue().asText()));
        configs.put("deploy/k8s/flinkdeployment.yaml flinkConfiguration", k8s);
        for (Map.Entry<String, Map<String, String>> c : configs.entrySet()) {
            for (String key : c.getValue().keySet()) {
                // Reporter settings are per reporter name; kubernetes.* and s3.* belong to
                // modules (flink-kubernetes, the S3 plugin) that are not on this class path.
                boolean open = key.matches("metrics\\.reporter\\.[\\w-]+\\.(factory\\.class|port|interval|filter\\.\\w+)")
                        || key.startsWith("kubernetes.") || key.startsWith("s3.");
                if (!open && !known.contains(key)) {
                    problems.add(c.getKey() + ": " + key + " is not a current Flink or kvstream option");
                }
            }
            if (!c.getKey().startsWith("deploy/compose") && !String.valueOf(c.getValue().get("env.java.opts.all"))
                    .contains("--add-modules jdk.incubator.vector")) {
                problems.add(c.getKey() + ": env.java.opts.all lacks --add-modules jdk.incubator.vector");
            }
        }
        assertThat(problems).as("Flink settings in deploy files").isEmpty();
    }

    /** Keys of Flink's config options (deprecated names excluded) and of kvstream's own. */
    private static Set<String> knownFlinkKeys() throws Exception {
        Set<String> keys = new TreeSet<>();
        for (String holder : List.of(
                "org.apache.flink.configuration.CheckpointingOptions",
                "org.apache.flink.configuration.StateBackendOptions",
                "org.apache.flink.configuration.StateRecoveryOptions",
                "org.apache.flink.configuration.RestartStrategyOptions",
                "org.apache.flink.configuration.HighAvailabilityOptions",
                "org.apache.flink.configuration.TaskManagerOptions",
                "org.apache.flink.configuration.JobManagerOptions",
                "org.apache.flink.configuration.CoreOptions",
                "org.apache.flink.configuration.PipelineOptions",
                "org.apache.flink.configuration.ExecutionOptions",
                "org.apache.flink.configuration.MetricOptions",
                "org.apache.flink.configuration.RestOptions",
                "org.apache.flink.configuration.NettyShuffleEnvironmentOptions",
                "org.apache.flink.state.rocksdb.RocksDBOptions",
                "org.apache.flink.state.rocksdb.RocksDBConfigurableOptions",
                "io.kvstream.kv.state.KvRocksDbOptionsFactory")) {
            for (Field f : Class.forName(holder).getFields()) {
                if (Modifier.isStatic(f.getModifiers()) && ConfigOption.class.isAssignableFrom(f.getType())
                        && !f.isAnnotationPresent(Deprecated.class)) {
                    keys.add(((ConfigOption<?>) f.get(null)).key());
                }
            }
        }
        return keys;
    }

    /** The FLINK_PROPERTIES of the compose file's JobManager, as the image's entrypoint reads them. */
    private static Map<String, String> composeFlinkProperties(JsonNode compose) {
        String text = compose.path("services").path("jobmanager").path("environment").path("FLINK_PROPERTIES").asText();
        Map<String, String> props = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && !line.trim().startsWith("#")) {
                props.put(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
            }
        }
        return props;
    }

    // ------------------------------------------------------------------ dashboard

    @Test
    void dashboardMetricsAreRegistered() throws Exception {
        Set<String> operatorMetrics = operatorMetrics();
        Set<String> jobMetrics = jobManagerJobMetrics();
        List<String> problems = new ArrayList<>();
        Path dashboard = deploy("grafana/kvstream-dashboard.json");
        List<String> exprs = JSON.readTree(dashboard.toFile()).findValuesAsText("expr");
        exprs.addAll(JSON.readTree(dashboard.toFile()).findValuesAsText("definition"));
        assertThat(exprs).as("queries in %s", rel(dashboard)).isNotEmpty();
        Pattern metric = Pattern.compile("\\bflink_[A-Za-z0-9_:]+");
        for (String expr : exprs) {
            Matcher m = metric.matcher(expr);
            while (m.find()) {
                String name = m.group();
                if (name.startsWith(OPERATOR_PREFIX)) {
                    // Histograms come out as a summary: NAME{quantile=...} and NAME_count.
                    String short_ = name.substring(OPERATOR_PREFIX.length()).replaceFirst("_count$", "");
                    if (!operatorMetrics.contains(short_)) {
                        problems.add(rel(dashboard) + ": " + name + ": InferenceMetrics registers no "
                                + short_ + " (it has " + operatorMetrics + ")");
                    }
                } else if (name.startsWith(JOB_PREFIX)) {
                    String short_ = name.substring(JOB_PREFIX.length());
                    if (!jobMetrics.contains(short_)) {
                        problems.add(rel(dashboard) + ": " + name + ": the JobManager has no job metric " + short_);
                    }
                } else {
                    problems.add(rel(dashboard) + ": " + name + ": neither a kvstream operator metric ("
                            + OPERATOR_PREFIX + "*) nor a checkpoint metric (" + JOB_PREFIX + "*)");
                }
            }
        }
        assertThat(problems).as("metrics the dashboard queries").isEmpty();
    }

    /** Names InferenceMetrics registers under its group, read from its source. */
    private static Set<String> operatorMetrics() throws IOException {
        String source = Files.readString(root.resolve(OPERATOR_METRICS));
        assertThat(source).as("%s registers its metrics under the group kvstream", OPERATOR_METRICS)
                .contains("addGroup(\"kvstream\")");
        Set<String> names = new TreeSet<>();
        Matcher m = Pattern.compile("\\.(?:counter|histogram|meter|gauge)\\(\\s*\"([^\"]+)\"").matcher(source);
        while (m.find()) {
            names.add(m.group(1));
        }
        assertThat(names).as("metrics registered in %s", OPERATOR_METRICS).isNotEmpty();
        return names;
    }

    /** The checkpoint metrics Flink registers per job on the JobManager, from its constants. */
    private static Set<String> jobManagerJobMetrics() throws Exception {
        Set<String> names = new TreeSet<>();
        for (Field f : Class.forName("org.apache.flink.runtime.checkpoint.DefaultCheckpointStatsTracker")
                .getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class && f.getName().endsWith("_METRIC")) {
                f.setAccessible(true);
                names.add((String) f.get(null));
            }
        }
        assertThat(names).as("checkpoint metric names in Flink").contains("lastCheckpointSize");
        return names;
    }

    // ------------------------------------------------------------------ helpers

    private static Path deploy(String name) {
        Path p = root.resolve("deploy").resolve(name);
        assertThat(p).as("deploy/%s", name).exists();
        return p;
    }

    private static List<Path> deployFiles() throws IOException {
        try (Stream<Path> files = Files.walk(root.resolve("deploy"))) {
            return files.filter(Files::isRegularFile).sorted().collect(Collectors.toList());
        }
    }

    /** The deploy files plus docs/deploy.md, where it exists. */
    private static List<Path> filesToCheck() throws IOException {
        List<Path> files = new ArrayList<>(deployFiles());
        Path docs = root.resolve("docs/deploy.md");
        if (Files.exists(docs)) {
            files.add(docs);
        }
        return files;
    }

    /**
     * Every document of a YAML file. SnakeYAML rather than Jackson's YAML reader, which does not
     * resolve aliases (compose.yaml shares its Flink settings through one).
     */
    private static List<JsonNode> yamlDocuments(Path file) throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        for (Object doc : new Yaml().loadAll(Files.readString(file))) {
            docs.add(JSON.valueToTree(doc));
        }
        return docs;
    }

    private static JsonNode flinkDeployment() throws IOException {
        for (JsonNode doc : yamlDocuments(deploy("k8s/flinkdeployment.yaml"))) {
            if (doc.path("kind").asText().equals("FlinkDeployment")) {
                return doc;
            }
        }
        throw new AssertionError("deploy/k8s/flinkdeployment.yaml holds no FlinkDeployment");
    }

    private static List<String> strings(JsonNode node) {
        List<String> out = new ArrayList<>();
        if (node.isArray()) {
            node.forEach(n -> out.add(n.asText()));
        } else if (node.isTextual()) {
            out.addAll(List.of(node.asText().trim().split("\\s+")));
        }
        return out;
    }

    private static String valueOf(List<String> args, String option) {
        int at = args.indexOf(option);
        return at >= 0 && at + 1 < args.size() ? args.get(at + 1) : null;
    }

    private static boolean jarHas(Path jar, String className) throws IOException {
        try (JarFile j = new JarFile(jar.toFile())) {
            return j.getEntry(className.replace('.', '/') + ".class") != null;
        }
    }

    private static String rel(Path file) {
        return root.relativize(file).toString().replace(File.separatorChar, '/');
    }
}
