#!/usr/bin/env bash
# Stop a broker started by scripts/kafka/start.sh and remove its temp dir.
#
#   scripts/kafka/stop.sh [state-file]
#
# The state file defaults to $KAFKA_STATE_FILE (see start.sh). Safe to run
# when nothing is running. KAFKA_STOP_TIMEOUT (seconds, default 15) bounds the
# graceful shutdown before the JVM is killed; KAFKA_STOP_FAST=1 kills at once
# (fine for throw-away test brokers).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STATE="${1:-$KAFKA_STATE_FILE}"
[ -f "$STATE" ] || { echo "kafka/stop.sh: no state file $STATE; nothing to stop" >&2; exit 0; }
# shellcheck disable=SC1090
. "$STATE"

KAFKA_CDS_DUMP="${KAFKA_CDS_DUMP:-}"
# Only ever signal the pid we recorded, and only if it still is our broker.
if kafka_is_our_broker; then
  # A broker writing the class archive at exit is always stopped gracefully (once per machine).
  if [ "${KAFKA_STOP_FAST:-0}" = "1" ] && [ -z "$KAFKA_CDS_DUMP" ]; then
    kill -9 "$KAFKA_PID" 2>/dev/null || true
  else
    kill -TERM "$KAFKA_PID" 2>/dev/null || true
  fi
  timeout_s="${KAFKA_STOP_TIMEOUT:-15}"
  # Writing the class archive at exit takes a while on a busy machine; it happens once.
  [ -n "$KAFKA_CDS_DUMP" ] && [ "$timeout_s" -lt 90 ] && timeout_s=90
  deadline=$(( $(date +%s) + timeout_s ))
  while kill -0 "$KAFKA_PID" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "kafka/stop.sh: pid $KAFKA_PID still running after ${timeout_s}s; killing" >&2
      kill -9 "$KAFKA_PID" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
fi

# Keep the class archive the broker wrote at exit (atomic move; first one wins).
if [ -n "$KAFKA_CDS_DUMP" ] && [ -s "$KAFKA_CDS_DUMP" ] && [ -n "${KAFKA_CDS_FILE:-}" ] && [ ! -s "$KAFKA_CDS_FILE" ]; then
  cp "$KAFKA_CDS_DUMP" "$KAFKA_CDS_FILE.tmp.$$" && mv -f "$KAFKA_CDS_FILE.tmp.$$" "$KAFKA_CDS_FILE" || rm -f "$KAFKA_CDS_FILE.tmp.$$"
fi

case "$KAFKA_DIR" in
  */stomp-cluster-kafka.*) rm -rf "$KAFKA_DIR" ;;
  *) echo "kafka/stop.sh: not removing unexpected dir '$KAFKA_DIR'" >&2 ;;
esac
rm -f "$STATE"
echo "kafka/stop.sh: stopped (pid $KAFKA_PID)" >&2
