#!/usr/bin/env bash
# Packs what .ci/gpu-check.sh needs on a GPU machine that reaches no registry into .ci/carry/ (git-ignored),
# as compressed archives within the device tool's 64 MiB for carried files:
#   jdk25.tar.xz      a JDK 25 runtime made by jlink from $JAVA_HOME: the modules peft4j and TornadoVM use
#   tornadovm.tar.xz  the TornadoVM SDK at $TORNADOVM_HOME, without its examples, tests and benchmarks
#   peft4j.tar.xz     the CLI jar and its libraries, built here with the TornadoVM backend (zstd-jni left out:
#                     it only reads .zst datasets)
#   opencl.tar.xz     Debian's OpenCL ICD loader (libOpenCL.so.1), for a machine whose driver lacks one
# Nothing here builds TornadoVM: it packs the SDK you installed. Usage:
#   JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 TORNADOVM_HOME=/opt/tornadovm .ci/gpu-pack.sh
# then carry .ci/carry (run tool: carry [".ci/carry"]) and run .ci/gpu-check.sh there.
set -euo pipefail
: "${JAVA_HOME:?set JAVA_HOME to a JDK 25 with jlink}"
: "${TORNADOVM_HOME:?set TORNADOVM_HOME to an installed TornadoVM SDK}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/.ci/carry"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
rm -rf "$out" && mkdir -p "$out"

echo "building peft4j with the TornadoVM backend ..."
(cd "$root" && mvn -q -B -DskipTests package)
if ! unzip -l "$(ls "$root"/cli/target/lib/peft4j-kernels-*.jar)" | grep -q 'META-INF/services/dev.peft4j.kernels.DeviceBackend'; then
  echo "gpu-pack: the kernels jar has no TornadoVM backend (is TORNADOVM_HOME set for the build?)" >&2; exit 1
fi
mkdir -p "$stage/peft4j/lib"
cp "$root/cli/target/peft4j-cli.jar" "$stage/peft4j/"
find "$root/cli/target/lib" -name '*.jar' ! -name 'zstd-jni-*' -exec cp {} "$stage/peft4j/lib/" \;

echo "linking a JDK runtime ..."
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,jdk.management,jdk.unsupported,jdk.internal.vm.ci,jdk.incubator.vector,java.xml,java.naming,java.sql,java.instrument \
  --strip-debug --no-man-pages --no-header-files --output "$stage/jdk25" 2>&1 | grep -v 'incubator modules' || true
[[ -x "$stage/jdk25/bin/java" ]] || { echo "gpu-pack: jlink made no runtime" >&2; exit 1; }

echo "copying the SDK ..."
cp -a "$TORNADOVM_HOME/." "$stage/tornadovm"
rm -rf "$stage/tornadovm/examples"
rm -f "$stage/tornadovm"/share/java/tornado/{tornado-benchmarks,tornado-unittests,tornado-examples,tornado-fuzz,junit,hamcrest,jmh-core,jopt-simple,lucene-core,ejml-}*.jar
rm -f "$stage/tornadovm/tornado-argfile" # machine-specific paths: gpu-check.sh writes it from the template

mkdir -p "$stage/opencl"
cp -L /usr/lib/x86_64-linux-gnu/libOpenCL.so.1 "$stage/opencl/" 2>/dev/null || echo "gpu-pack: no libOpenCL.so.1 here (apt-get install ocl-icd-libopencl1); not carried"

for part in jdk25 tornadovm peft4j opencl; do
  echo "compressing $part ..."
  tar -C "$stage" -cf - "$part" | xz -T2 -9 > "$out/$part.tar.xz"
done
total=$(du -cb "$out"/*.tar.xz | tail -1 | cut -f1)
ls -l "$out"
echo "total $((total / 1024 / 1024)) MiB of the 64 MiB the device tool carries"
(( total < 64 * 1024 * 1024 )) || { echo "gpu-pack: over 64 MiB" >&2; exit 1; }
