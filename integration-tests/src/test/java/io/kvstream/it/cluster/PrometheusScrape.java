package io.kvstream.it.cluster;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;

/**
 * One scrape of a Prometheus endpoint (Flink's {@code PrometheusReporter}), parsed from the text
 * exposition format into samples, so that tests can ask for a metric by name the way a Prometheus
 * query would: {@code flink_taskmanager_job_task_operator_kvstream_generatedTokens{...} 42.0}.
 */
public final class PrometheusScrape {

    /** One sample line: name, labels as written, value. */
    public record Sample(String name, String labels, double value) {}

    private final List<Sample> samples;
    private final String text;

    private PrometheusScrape(String text, List<Sample> samples) {
        this.text = text;
        this.samples = samples;
    }

    public static PrometheusScrape scrape(int port) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException("Prometheus endpoint on " + port + ": HTTP " + r.statusCode());
        }
        return parse(r.body());
    }

    static PrometheusScrape parse(String text) {
        List<Sample> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            if (space < 0) {
                continue;
            }
            String name;
            String labels = "";
            if (brace >= 0 && brace < space) {
                name = line.substring(0, brace);
                labels = line.substring(brace + 1, line.lastIndexOf('}'));
            } else {
                name = line.substring(0, line.indexOf(' '));
            }
            String v = line.substring(space + 1).trim();
            double value;
            try {
                value = switch (v) {
                    case "NaN" -> Double.NaN;
                    case "+Inf" -> Double.POSITIVE_INFINITY;
                    case "-Inf" -> Double.NEGATIVE_INFINITY;
                    default -> Double.parseDouble(v);
                };
            } catch (NumberFormatException e) {
                continue;
            }
            out.add(new Sample(name, labels, value));
        }
        return new PrometheusScrape(text, out);
    }

    /** Samples whose metric name ends with the suffix (e.g. {@code kvstream_generatedTokens}). */
    public List<Sample> named(String suffix) {
        return samples.stream().filter(s -> s.name().endsWith(suffix)).toList();
    }

    /** The sum over the samples of a metric (over subtasks, for a counter), if any. */
    public OptionalDouble sum(String suffix) {
        List<Sample> s = named(suffix);
        return s.isEmpty() ? OptionalDouble.empty()
                : OptionalDouble.of(s.stream().mapToDouble(Sample::value).sum());
    }

    /** The largest value among the samples of a metric, if any. */
    public OptionalDouble max(String suffix) {
        return named(suffix).stream().mapToDouble(Sample::value).filter(d -> !Double.isNaN(d)).max();
    }

    public List<Sample> samples() {
        return samples;
    }

    public String text() {
        return text;
    }
}
