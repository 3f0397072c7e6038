#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars from Maven Central into a local cache (once).
#   KAFKA_CACHE_DIR  where the jars go (default $HOME/.cache/stomp-cluster/kafka-<version>/libs)
#   KAFKA_VERSION    must match scripts/kafka/pom.xml (default 4.1.1)
# Idempotent: does nothing when the jars are already there. Prints nothing on
# stdout (start.sh's stdout is eval'ed by callers): Maven's output goes to stderr.
set -euo pipefail
exec 1>&2
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if kafka_jars_present; then
  exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh: mvn not found (apt-get install maven)" >&2; exit 1; }
mkdir -p "$KAFKA_CACHE_DIR"
echo "fetch.sh: fetching Kafka $KAFKA_VERSION jars into $KAFKA_CACHE_DIR" >&2
( cd "$KAFKA_SCRIPT_DIR" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" \
    -DoutputDirectory="$KAFKA_CACHE_DIR" -DincludeScope=runtime 2>&1 ) | sed 's/\x1b\[[0-9;]*m//g'
# (Maven 3.8 still writes colour resets in batch mode; the sed strips them.)
kafka_jars_present || { echo "fetch.sh: jars still missing in $KAFKA_CACHE_DIR" >&2; exit 1; }
