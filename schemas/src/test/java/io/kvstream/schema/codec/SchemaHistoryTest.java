package io.kvstream.schema.codec;

import io.kvstream.schema.DeadLetter;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SchemaHistoryTest {

    private static Schema current(String name) {
        switch (name) {
            case "SessionEvent":
                return SessionEvent.getClassSchema();
            case "ResponseEvent":
                return ResponseEvent.getClassSchema();
            case "DeadLetter":
                return DeadLetter.getClassSchema();
            default:
                throw new IllegalArgumentException(name);
        }
    }

    /** Fails when a schema is edited without adding its new version to the history. */
    @ParameterizedTest
    @ValueSource(strings = {"SessionEvent", "ResponseEvent", "DeadLetter"})
    void currentSchemaIsTheLatestHistoryVersion(String name) {
        Schema current = current(name);
        SchemaHistory history = SchemaHistory.load(current);
        assertThat(history.fullName()).isEqualTo("io.kvstream.schema." + name);
        assertThat(SchemaHistory.fingerprint(history.latest()))
                .isEqualTo(SchemaHistory.fingerprint(current));
    }

    /** Fails when a new version cannot read what an older one wrote. */
    @ParameterizedTest
    @ValueSource(strings = {"SessionEvent", "ResponseEvent", "DeadLetter"})
    void currentSchemaCanReadEveryHistoricalVersion(String name) {
        Schema current = current(name);
        for (Schema old : SchemaHistory.load(current).versions()) {
            assertThat(
                            SchemaCompatibility.checkReaderWriterCompatibility(current, old)
                                    .getType())
                    .as("%s reading %s", current.getFullName(), old)
                    .isEqualTo(SchemaCompatibilityType.COMPATIBLE);
        }
    }

    @Test
    void looksUpVersionsByFingerprint() {
        Schema v1 = SessionEvent.getClassSchema();
        Schema v2 = TestEvents.evolutionSchema("SessionEvent-v2.avsc");
        SchemaHistory history = SchemaHistory.of(v1).plus(v2);
        assertThat(history.versionOf(SchemaHistory.fingerprint(v1))).isEqualTo(1);
        assertThat(history.versionOf(SchemaHistory.fingerprint(v2))).isEqualTo(2);
        assertThat(history.findByFingerprint(SchemaHistory.fingerprint(v2))).isSameAs(v2);
        assertThat(history.findByFingerprint(12345L)).isNull();
        assertThat(history.versionOf(12345L)).isEqualTo(-1);
        assertThat(history.latest()).isSameAs(v2);
    }

    @Test
    void rejectsAVersionOfAnotherRecord() {
        assertThatThrownBy(
                        () ->
                                SchemaHistory.of(SessionEvent.getClassSchema())
                                        .plus(DeadLetter.getClassSchema()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("io.kvstream.schema.DeadLetter");
    }

    @Test
    void missingHistoryIsAClearError() {
        assertThatThrownBy(
                        () ->
                                SchemaHistory.load(
                                        "io.kvstream.schema.Nope",
                                        "Nope",
                                        getClass().getClassLoader()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("io/kvstream/schema/history/Nope-v1.avsc");
    }

    @Test
    void aCodecRefusesToWriteASchemaThatIsNotInItsHistory() {
        Schema v2 = TestEvents.evolutionSchema("SessionEvent-v2.avsc");
        assertThatThrownBy(
                        () -> SingleObjectCodec.forGeneric(v2, SchemaHistory.load(SessionEvent.getClassSchema())))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("SessionEvent-v2.avsc");
    }
}
