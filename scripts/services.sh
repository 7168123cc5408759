# Sourced by the scripts: makes sure the services the tests need are up.
# On this project's machines PostgreSQL (trust auth on 127.0.0.1) and NATS are
# installed; on a fresh Debian 12 they are installed from Debian's packages,
# and so is coturn, whose `turnserver` the live tests start themselves.

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

wait_for() { # wait_for <what> <seconds> <command…>: polls until the command succeeds
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "error: $what did not come up within ${seconds}s" >&2; return 1; fi
    sleep 0.5
  done
}

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "== installing PostgreSQL"
    need_root apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    echo "== starting PostgreSQL"
    need_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    wait_for PostgreSQL 60 pg_isready -h 127.0.0.1 -p 5432 -q
  fi
  # A fresh install only trusts the postgres OS user on the socket: give the
  # postgres role a password so the tests can connect over TCP.
  if ! psql "${LOCKIN_TEST_POSTGRES_URL}" -Atqc 'select 1' >/dev/null 2>&1; then
    need_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
    export LOCKIN_TEST_POSTGRES_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
  fi
  psql "${LOCKIN_TEST_POSTGRES_URL}" -Atqc 'select 1' >/dev/null || {
    echo "error: cannot connect to PostgreSQL at ${LOCKIN_TEST_POSTGRES_URL}" >&2; return 1; }
  # Databases left by earlier runs (each test makes its own).
  psql "${LOCKIN_TEST_POSTGRES_URL}" -Atqc \
    "select datname from pg_database where datname like 'lockin_t_%' or datname like 'lockin_bench_%'" |
    while read -r db; do psql "${LOCKIN_TEST_POSTGRES_URL}" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null; done
}

nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

ensure_nats() {
  if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    echo "== installing NATS"
    need_root apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  fi
  if ! nats_up; then
    echo "== starting NATS"
    need_root mkdir -p /var/lib/nats-server
    need_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
    wait_for NATS 30 nats_up
  fi
}

# The live tests run their own `turnserver` on a free loopback port
# (crates/server/tests/live/turn.rs); only the program is needed.
ensure_coturn() {
  if ! command -v turnserver >/dev/null 2>&1; then
    echo "== installing coturn"
    need_root apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null
    # The package enables a TURN server on every interface; the tests want none.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      need_root systemctl disable --now coturn >/dev/null 2>&1 || true
    fi
  fi
}
