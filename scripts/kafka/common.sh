# Shared settings for fetch.sh / start.sh / stop.sh (sourced, not executed).
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$HOME/.cache/stomp-cluster/kafka-$KAFKA_VERSION/libs}"
# Where start.sh records {pid, dir, port} for stop.sh. Override to run several brokers.
KAFKA_STATE_FILE="${KAFKA_STATE_FILE:-${TMPDIR:-/tmp}/stomp-cluster-kafka.state}"

kafka_jars_present() {
  [ -f "$KAFKA_CACHE_DIR/kafka_2.13-$KAFKA_VERSION.jar" ] \
    && [ -f "$KAFKA_CACHE_DIR/kafka-clients-$KAFKA_VERSION.jar" ] \
    && [ -f "$KAFKA_CACHE_DIR/kafka-tools-$KAFKA_VERSION.jar" ] \
    && [ -f "$KAFKA_CACHE_DIR/kafka-server-$KAFKA_VERSION.jar" ] \
    && [ -f "$KAFKA_CACHE_DIR/log4j-slf4j-impl-2.24.3.jar" ]
}

# The broker classpath: every cached jar except the slf4j 2.x binding, which
# conflicts with the 1.x one Kafka needs (see pom.xml).
kafka_classpath() {
  local cp="" j
  for j in "$KAFKA_CACHE_DIR"/*.jar; do
    case "$(basename "$j")" in log4j-slf4j2-impl-*) continue ;; esac
    cp="${cp:+$cp:}$j"
  done
  printf '%s' "$cp"
}

# True if $KAFKA_PID (from a state file) is alive and still the broker of $KAFKA_DIR
# (a recycled pid is never taken for our broker).
kafka_is_our_broker() {
  kill -0 "$KAFKA_PID" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$KAFKA_PID/cmdline" 2>/dev/null | grep -qF "$KAFKA_DIR/server.properties"
}
