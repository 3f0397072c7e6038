#!/usr/bin/env bash
# `npm test` (and the last step of `make test`): check the machine has what the
# tests need (scripts/setup.sh --check names anything missing; `make test`
# installs it first), build, type-check spec/ (tsconfig.spec.json), start ONE
# throw-away Kafka broker (KRaft, real Apache Kafka jars from Maven Central,
# cached) for the whole run, run every tap test, stop Kafka. Redis servers are
# started per test file on free ports by spec/helpers/services.ts. Extra
# arguments go to tap (e.g. a file).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --check

npx tsc -p tsconfig.json
# spec/ is only transpiled by tap: type-check it too, so a spec type error fails here.
npx tsc -p tsconfig.spec.json

started_kafka=0
if [ -z "${KAFKA_BROKERS:-}" ]; then
  export KAFKA_STATE_FILE="${TMPDIR:-/tmp}/stomp-cluster-test-kafka.$$.state"
  export KAFKA_PARENT_PID=$$
  trap 'KAFKA_STOP_FAST=1 scripts/kafka/stop.sh "$KAFKA_STATE_FILE" >/dev/null 2>&1 || true' EXIT
  # start.sh prints only KAFKA_BROKERS=host:port on stdout; take that line and nothing else.
  out="$(scripts/kafka/start.sh)"
  KAFKA_BROKERS="$(sed -n 's/^KAFKA_BROKERS=//p' <<<"$out" | tail -1)"
  [ -n "$KAFKA_BROKERS" ] || { echo "test.sh: scripts/kafka/start.sh printed no KAFKA_BROKERS line" >&2; exit 1; }
  export KAFKA_BROKERS
  started_kafka=1
fi
echo "test.sh: Kafka at $KAFKA_BROKERS (started here: $started_kafka)" >&2

# Explicit arguments (a file, a tap flag): just that.
if [ "$#" -gt 0 ]; then exec npx tap "$@"; fi

# Everything: the suite with tap's parallel jobs, then spec/hostile/ alone (its
# observer's latency is part of what it asserts: it must not share the two
# cores with another test file). One summary line for both, in tap's format.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"; KAFKA_STOP_FAST=1 scripts/kafka/stop.sh "${KAFKA_STATE_FILE:-/nonexistent}" >/dev/null 2>&1 || true' EXIT
set +e
npx tap --exclude 'spec/hostile/**' 2>&1 | tee "$logs/main"
main_rc=${PIPESTATUS[0]}
cp .tap/report/coverage-summary.json "$logs/coverage.json" 2>/dev/null || true
npx tap --jobs=1 --disable-coverage 'spec/hostile/*.test.ts' 2>&1 | tee "$logs/hostile"
hostile_rc=${PIPESTATUS[0]}
set -e
# Line coverage of src/ by the parallel suite must not fall below the floor
# (what the suite met when it was set, rounded down).
COVERAGE_FLOOR="${COVERAGE_FLOOR:-95}"
node -e '
  const fs = require("node:fs");
  const [floor, coverage, ...logs] = process.argv.slice(1);
  const sum = { total: 0, pass: 0, fail: 0, skip: 0 };
  let cov = null;
  try { cov = JSON.parse(fs.readFileSync(coverage, "utf8")).total.lines.pct; } catch {}
  if (cov === null) { console.log("# coverage: no report"); sum.fail++; }
  else if (cov < Number(floor)) { console.log("# coverage " + cov + "% of lines is below the floor of " + floor + "%"); sum.fail++; }
  else console.log("# coverage " + cov + "% of lines (floor " + floor + "%)");
  for (const f of logs) {
    const line = fs.readFileSync(f, "utf8").split("\n").filter((l) => /^# \{ total: \d+/.test(l)).pop();
    if (!line) { sum.fail++; continue; }
    for (const k of Object.keys(sum)) sum[k] += Number((new RegExp(k + ": (\\d+)").exec(line) || [0, 0])[1]);
  }
  const parts = ["total: " + sum.total, "pass: " + sum.pass];
  if (sum.fail) parts.push("fail: " + sum.fail);
  if (sum.skip) parts.push("skip: " + sum.skip);
  console.log("# all tests (parallel suite + spec/hostile alone)");
  console.log("# { " + parts.join(", ") + " }");
' "$COVERAGE_FLOOR" "$logs/coverage.json" "$logs/main" "$logs/hostile" | tee "$logs/summary"
[ "$main_rc" -eq 0 ] && [ "$hostile_rc" -eq 0 ] && ! grep -q "^# coverage.*below\|^# coverage: no report" "$logs/summary"
