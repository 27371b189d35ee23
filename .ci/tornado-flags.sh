#!/usr/bin/env bash
# Prints the JVM flags that run code on TornadoVM, one per line (a java @argfile), taken from the
# installed SDK's own launcher (`tornado --printJavaFlags`), so they always match that SDK.
# The launcher's java path and the working directory entry on the module path are dropped, and
# nested @argfiles are inlined (java does not expand @files inside an @file).
# Usage: .ci/tornado-flags.sh > target/tornado.args   (needs TORNADOVM_HOME)
set -euo pipefail
: "${TORNADOVM_HOME:?set TORNADOVM_HOME to an installed TornadoVM SDK}"
: "${JAVA_HOME:?set JAVA_HOME to the JDK 25 that runs TornadoVM}"
flags=$("$TORNADOVM_HOME/bin/tornado" --printJavaFlags 2>/dev/null | sed -n 1p)  # sed, not head: no SIGPIPE under pipefail
set -- $flags
shift # the java executable
for f in "$@"; do
  case "$f" in
    .:*) echo "${f#.:}" ;;
    @*) cat "${f#@}"; echo ;;
    *) echo "$f" ;;
  esac
done
