package io.kvstream.eval;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

class EvalReportTest {

    private static EvalResult result(String referenceAnswer) {
        EvalSample a = new EvalSample(0, "chat", List.of(), "red", referenceAnswer);
        EvalSample b = new EvalSample(1, "video", List.of(), "blue", referenceAnswer);
        return new EvalResult(
                List.of(new EvalResult.Answer(a, "red", null), new EvalResult.Answer(b, "green", null)),
                1000, 0, 0, 800.0, 4100.0, 10.0);
    }

    /** Sets made by bench/make-eval.py carry no reference answers: there is no agreement to count. */
    @Test
    void aSetWithoutReferenceAnswersReportsNoAgreement() {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode fresh = EvalReport.summary(mapper, "m", "kivi2", result(null));
        assertThat(fresh.has("agree_reference")).isFalse();
        assertThat(fresh.get("accuracy").get("chat").asDouble()).isEqualTo(1.0);
        assertThat(fresh.get("accuracy").get("video").asDouble()).isEqualTo(0.0);
        assertThat(print(result(null))).doesNotContain("agreement");

        ObjectNode shared = EvalReport.summary(mapper, "m", "kivi2", result("red"));
        assertThat(shared.get("agree_reference").asInt()).isEqualTo(1);
        assertThat(print(result("red"))).contains("agreement with reference_answer: 1/2");
    }

    @Test
    void reportsTheFp16BasisAndTheRatio() {
        ObjectNode summary = EvalReport.summary(new ObjectMapper(), "m", "kivi2", result(null));
        assertThat(summary.get("kv_bytes_per_token").asDouble()).isEqualTo(800.0);
        assertThat(summary.get("fp16_bytes_per_token").asDouble()).isEqualTo(4100.0);
        assertThat(print(result(null))).contains("kv bytes/token 800.0, 5.13x smaller than fp16 (4100.0)");
    }

    private static String print(EvalResult result) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        EvalReport.print(result, new PrintStream(out, true, StandardCharsets.UTF_8));
        return out.toString(StandardCharsets.UTF_8);
    }
}
