#!/usr/bin/env bash
# Install what the test suite needs on a Debian machine, once; `make test`
# runs it before the tests (and CI runs `make test`).
#
#   scripts/setup.sh          check, install what is missing (as root, with apt-get), fetch the Kafka jars
#   scripts/setup.sh --check  check only; exit 1 naming what is missing
#
# What the tests need, and the Debian package that provides it:
#   redis-server                  redis-server   (Redis servers started per test file)
#   java 17+                      openjdk-17-jre-headless (the Kafka broker)
#   mvn                           maven          (fetches the Kafka jars from Maven Central)
#   /usr/bin/chromium             chromium       (browser tests; SKIP_BROWSER=1 opts out)
#   /usr/bin/python3 + stomp.py   python3-stomp  (stomp.py client test; SKIP_PYTHON=1 opts out)
# then the Kafka jars (scripts/kafka/fetch.sh; cached in KAFKA_CACHE_DIR).
#
# Where it cannot install (not root, or no apt-get), it stops with one line
# naming the missing packages. SETUP_ASSUME_MISSING=chromium,python3-stomp
# makes the check treat those as missing (to prove the install path on a
# machine that already has them). Everything it prints goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 3>&1 1>&2

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

assumed_missing() { case ",${SETUP_ASSUME_MISSING:-}," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

java_ok() {
  command -v java >/dev/null || return 1
  local v
  v="$(java -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p')"
  [ -n "$v" ] && [ "$v" -ge 17 ]
}

missing=()
want() { # want <package> <check command...>
  local pkg="$1"; shift
  if assumed_missing "$pkg" || ! "$@" >/dev/null 2>&1; then missing+=("$pkg"); fi
}
want redis-server command -v redis-server
want openjdk-17-jre-headless java_ok
want maven command -v mvn
[ "${SKIP_BROWSER:-0}" = "1" ] || want chromium test -x /usr/bin/chromium
[ "${SKIP_PYTHON:-0}" = "1" ] || want python3-stomp /usr/bin/python3 -c 'import stomp'

if [ "${#missing[@]}" -gt 0 ]; then
  hint="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$check_only" = 1 ]; then
    echo "setup.sh: missing ${missing[*]}: run scripts/setup.sh as root (or $hint); SKIP_BROWSER=1 / SKIP_PYTHON=1 opt out of the browser / stomp.py tests"
    exit 1
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup.sh: missing ${missing[*]}: install as root with: $hint (SKIP_BROWSER=1 / SKIP_PYTHON=1 opt out of the browser / stomp.py tests)"
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || { echo "setup.sh: apt-get update failed"; exit 1; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "setup.sh: apt-get install failed for ${missing[*]}"; exit 1; }
  # Check again, without the pretend-missing list: what was installed must now be there.
  SETUP_ASSUME_MISSING= "$0" --check
fi

if [ "$check_only" = 1 ]; then
  exit 0
fi

# Kafka broker jars from Maven Central (cached; a no-op when present).
scripts/kafka/fetch.sh
skipped=""
[ "${SKIP_BROWSER:-0}" = "1" ] && skipped+=" (SKIP_BROWSER=1: no chromium)"
[ "${SKIP_PYTHON:-0}" = "1" ] && skipped+=" (SKIP_PYTHON=1: no python3-stomp)"
echo "setup.sh: ready${skipped}"
