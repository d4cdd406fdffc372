#!/usr/bin/env bash
# Start throwaway PostgreSQL and Redis servers on 127.0.0.1 for the test suite.
#
#   source .ci/services.sh      # exports FXIM_TEST_POSTGRES_DSN, FXIM_TEST_REDIS_URL
#   ...run tests...
#   fxim_services_stop
#
# Installs the Debian packages if they are missing (needs root, as in CI).
# Data lives in a temp folder that fxim_services_stop removes.

fxim_services_start() {
  if ! command -v redis-server >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing postgresql and redis-server from Debian packages" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >&2
  fi
  local pgbin
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  FXIM_SERVICES_DIR=$(mktemp -d /tmp/fxim-services.XXXXXX)
  chmod 755 "$FXIM_SERVICES_DIR"
  local pgport redisport
  read -r pgport redisport < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
  # PostgreSQL refuses to run as root: run it as the postgres user.
  local runas=()
  if [ "$(id -u)" = 0 ]; then
    runas=(setpriv --reuid=postgres --regid=postgres --clear-groups)
    mkdir -p "$FXIM_SERVICES_DIR/pg"
    chown postgres:postgres "$FXIM_SERVICES_DIR/pg"
  fi
  "${runas[@]}" "$pgbin/initdb" -D "$FXIM_SERVICES_DIR/pg/data" -U fxim --auth=trust -E UTF8 >/dev/null
  "${runas[@]}" "$pgbin/pg_ctl" -D "$FXIM_SERVICES_DIR/pg/data" -l "$FXIM_SERVICES_DIR/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $pgport -k $FXIM_SERVICES_DIR/pg -c max_connections=200 -c fsync=on" start >/dev/null
  "${runas[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U fxim fxim_test
  redis-server --bind 127.0.0.1 --port "$redisport" --save "" --appendonly no \
    --daemonize yes --pidfile "$FXIM_SERVICES_DIR/redis.pid" --logfile "$FXIM_SERVICES_DIR/redis.log"
  for _ in $(seq 50); do
    redis-cli -p "$redisport" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  FXIM_PGBIN=$pgbin
  FXIM_PG_RUNAS="${runas[*]}"
  export FXIM_SERVICES_DIR FXIM_PGBIN FXIM_PG_RUNAS
  export FXIM_TEST_POSTGRES_DSN="postgresql://fxim@127.0.0.1:$pgport/fxim_test"
  export FXIM_TEST_REDIS_URL="redis://127.0.0.1:$redisport/0"
  echo "PostgreSQL at $FXIM_TEST_POSTGRES_DSN, Redis at $FXIM_TEST_REDIS_URL" >&2
}

fxim_services_stop() {
  [ -n "${FXIM_SERVICES_DIR:-}" ] || return 0
  # shellcheck disable=SC2086
  $FXIM_PG_RUNAS "$FXIM_PGBIN/pg_ctl" -D "$FXIM_SERVICES_DIR/pg/data" -m fast stop >/dev/null 2>&1 || true
  [ -f "$FXIM_SERVICES_DIR/redis.pid" ] && kill "$(cat "$FXIM_SERVICES_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$FXIM_SERVICES_DIR"
  unset FXIM_SERVICES_DIR
}

fxim_services_start
