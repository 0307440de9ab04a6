#!/usr/bin/env bash
# Packs what a GPU machine without Java or Maven needs to run the CUDA backend's tests and the
# eval/generate/bench commands into .gpu/ (git-ignored): a jlink runtime, operators-gpu with its
# dependencies (test scope: the GPU tests run from it), the reference model files the tests and
# eval read, and a `run` script. The device tool carries at most 64 MiB, so this checks the size.
#
#   bench/gpu-pack.sh                      # build offline and pack
#   MVN_FLAGS= bench/gpu-pack.sh           # allow Maven to go online
#   WITH_F16=1 bench/gpu-pack.sh           # also refmodel-f16.gguf (golden-f16 cases), if it fits
#
# Then, on the GPU machine (docs/gpu.md): .gpu/run test | eval ... | generate ... | bench ...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.gpu"
refmodel="${KVSTREAM_REFMODEL:-$root/../shared/refmodel}"
limit=$((64 * 1024 * 1024))
mvn_flags=${MVN_FLAGS--o}
cd "$root"

./mvnw -B -ntp $mvn_flags -q -pl operators-gpu -am install -DskipTests
# The commands (eval, generate, bench, synth) live with the kvstream command in pipeline-jobs.
./mvnw -B -ntp $mvn_flags -q -pl pipeline-jobs compile
rm -rf "$out"
mkdir -p "$out/lib" "$out/models" "$out/tmp"
./mvnw -B -ntp $mvn_flags -q -pl operators-gpu dependency:copy-dependencies \
    -DincludeScope=test -DoutputDirectory="$out/lib"
# Test-scope jars that neither the pack's tests nor the commands load (checked by running both).
for unused in byte-buddy commons-compress commons-net checker-qual kryo reflectasm objenesis flink-shaded-asm snakeyaml-engine; do
    rm -f "$out"/lib/"$unused"-*.jar
done
cp operators-gpu/target/kvstream-operators-gpu-*-SNAPSHOT.jar operators-gpu/target/kvstream-operators-gpu-*-tests.jar "$out/lib/"
# The commands' packages only (not the pipeline, which needs Flink's runtime), and picocli for them.
jar cf "$out/lib/kvstream-tools.jar" -C pipeline-jobs/target/classes io/kvstream/cli \
    -C pipeline-jobs/target/classes io/kvstream/eval -C pipeline-jobs/target/classes io/kvstream/model/synth
picocli=$(sed -n 's:.*<picocli.version>\(.*\)</picocli.version>.*:\1:p' pom.xml)
cp "$HOME/.m2/repository/info/picocli/picocli/$picocli/picocli-$picocli.jar" "$out/lib/"

# JCuda's natives jar holds four libraries (25 MB unpacked); the backend loads only the driver API's.
natives=$(ls "$out"/lib/jcuda-natives-*-linux-x86_64.jar)
( cd "$out/tmp" && unzip -q "$natives" 'lib/libJCudaDriver-*' && jar cf "$out/lib/jcuda-natives-driver-linux-x86_64.jar" lib )
rm -f "$natives"

# The JUnit launcher API for `run test` (surefire brings its own, so the build does not list it).
platform=$(ls "$out"/lib/junit-platform-engine-*.jar | sed 's/.*junit-platform-engine-\(.*\)\.jar/\1/')
cp "$HOME/.m2/repository/org/junit/platform/junit-platform-launcher/$platform/junit-platform-launcher-$platform.jar" "$out/lib/"

# A logger for the backends' INFO lines (which device, why the CPU); the pipeline's log4j is bigger.
slf4j=$(ls "$out"/lib/slf4j-api-*.jar | sed 's/.*slf4j-api-\(.*\)\.jar/\1/')
cp "$HOME/.m2/repository/org/slf4j/slf4j-simple/$slf4j/slf4j-simple-$slf4j.jar" "$out/lib/"

javac -d "$out/tmp/main" -cp "$out/lib/*" bench/gpu/GpuMain.java
jar cf "$out/lib/gpu-main.jar" -C "$out/tmp/main" .
rm -rf "$out/tmp"

# java.sql for Jackson, java.desktop for Jinjava's bean introspection (java.beans), java.management
# for the JUnit launcher; jdk.incubator.vector for the CPU backend that auto falls back to. The
# image goes uncompressed into an xz tarball (18 MB where --compress=2 leaves 50 MB on disk); `run`
# unpacks it once into $TMPDIR.
jlink --add-modules java.base,java.logging,java.management,java.sql,java.desktop,jdk.unsupported,jdk.incubator.vector \
    --strip-debug --no-man-pages --no-header-files --output "$out/jre" 2> >(grep -v 'incubator' >&2)
tar -C "$out" -cf - jre | xz -T0 -6 > "$out/jre.tar.xz"
rm -rf "$out/jre"

# The reference model in models/: `run` points both kvstream.home (default model) and the tests' refmodel here.
for f in refmodel-q8_0.gguf refmodel-mmproj-f16.gguf golden-f16.json golden-q8_0.json eval-shared.jsonl \
         tokenizer.json tokenizer_config.json config.json reference-accuracy.json; do
    cp "$refmodel/$f" "$out/models/"
done
mkdir -p "$out/models/qwen2-tiny"
cp "$refmodel/qwen2-tiny/qwen2-tiny-f16.gguf" "$refmodel/qwen2-tiny/golden.json" "$out/models/qwen2-tiny/"
if [ "${WITH_F16:-0}" = 1 ]; then
    cp "$refmodel/refmodel-f16.gguf" "$out/models/"
fi

cat > "$out/run" <<'RUN'
#!/usr/bin/env bash
# run test [CLASS...] | eval ... | generate ... | bench ... | synth ...   (see docs/gpu.md)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jre="${TMPDIR:-/tmp}/kvstream-jre-$(cksum < "$here/jre.tar.xz" | cut -d' ' -f1)"
if [ ! -x "$jre/jre/bin/java" ]; then
    mkdir -p "$jre.part"
    if command -v xz >/dev/null; then
        xz -dc "$here/jre.tar.xz" | tar -C "$jre.part" -xf -
    else
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$here/jre.tar.xz" "$jre.part"
    fi
    rm -rf "$jre" && mv "$jre.part" "$jre"
fi
exec "$jre/jre/bin/java" ${KVSTREAM_JAVA_OPTS:--Xmx16g} --add-modules jdk.incubator.vector \
    -Dkvstream.home="$here" -Dkvstream.refmodel="$here/models" \
    -cp "$here/lib/*" GpuMain "$@" 2> >(grep --line-buffered -v 'Using incubator modules' >&2)
RUN
chmod +x "$out/run"

size=$(du -sb "$out" | cut -f1)
printf 'gpu-pack: %s is %.1f MiB (limit 64 MiB): jre.tar.xz %s, lib %s, models %s\n' "$out" "$(awk "BEGIN { print $size / 1048576 }")" \
    "$(du -sh "$out/jre.tar.xz" | cut -f1)" "$(du -sh "$out/lib" | cut -f1)" "$(du -sh "$out/models" | cut -f1)"
if [ "$size" -gt "$limit" ]; then
    echo "gpu-pack: over the 64 MiB the device tool carries; leave out WITH_F16 or trim lib/" >&2
    exit 1
fi
