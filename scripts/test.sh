#!/usr/bin/env bash
# `npm test` / `make test`: build, start ONE throw-away Kafka broker (KRaft,
# real Apache Kafka jars from Maven Central, cached) for the whole run, run
# every tap test, stop Kafka. Redis servers are started per test file on free
# ports by spec/helpers/services.ts. Extra arguments go to tap (e.g. a file).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v redis-server >/dev/null || { echo "test.sh: redis-server is required (apt-get install -y redis-server)" >&2; exit 1; }

npx tsc -p tsconfig.json

started_kafka=0
if [ -z "${KAFKA_BROKERS:-}" ]; then
  export KAFKA_STATE_FILE="${TMPDIR:-/tmp}/stomp-cluster-test-kafka.$$.state"
  export KAFKA_PARENT_PID=$$
  eval "$(scripts/kafka/start.sh)"
  export KAFKA_BROKERS
  started_kafka=1
  trap 'KAFKA_STOP_FAST=1 scripts/kafka/stop.sh "$KAFKA_STATE_FILE" >/dev/null 2>&1 || true' EXIT
fi
echo "test.sh: Kafka at $KAFKA_BROKERS (started here: $started_kafka)" >&2

npx tap "$@"
