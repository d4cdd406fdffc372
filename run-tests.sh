#!/usr/bin/env bash
# Run the whole fxim test suite against real PostgreSQL and Redis servers.
#
#   bash run-tests.sh [trial arguments, default: fxim]
#
# Installs fxim and its dependencies (pip install .), installs PostgreSQL and
# Redis from Debian packages when missing, starts throwaway instances on
# 127.0.0.1, runs trial from the repository root, stops the servers, and
# ends with a line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"

python3 -m pip install --quiet --disable-pip-version-check ".[test]" >&2 || {
  echo "pip install failed" >&2; echo "0 passed, 1 failed"; exit 1; }

# shellcheck source=.ci/tools.sh
source .ci/tools.sh
# shellcheck source=.ci/services.sh
source .ci/services.sh
# A temp folder of this run only: two runs on one machine do not collide,
# and everything the tests leave (trial's folder, node data) goes with it.
run_tmp=$(mktemp -d /tmp/fxim-run.XXXXXX)
# Traversable by the postgres user (tests start their own PostgreSQL in it).
chmod 755 "$run_tmp"
export TMPDIR="$run_tmp"
trap 'fxim_services_stop; rm -rf "$run_tmp"' EXIT

log=$(mktemp "$run_tmp/trial-log.XXXXXX")
# -j2: two local workers on this 2-core machine.
python3 -m twisted.trial --jobs=2 --temp-directory="$run_tmp/trial" "${@:-fxim}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

summary=$(grep -E '^(PASSED|FAILED) \(' "$log" | tail -n 1)
count() { echo "$summary" | grep -oE "$1=[0-9]+" | cut -d= -f2 | head -n 1; }
successes=$(count successes); failures=$(count failures); errors=$(count errors)
unexpected=$(count unexpectedSuccesses); expected=$(count expectedFailures)
passed=$(( ${successes:-0} + ${expected:-0} ))
failed=$(( ${failures:-0} + ${errors:-0} + ${unexpected:-0} ))
rm -f "$log"
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "no tests ran" >&2
  failed=1
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
