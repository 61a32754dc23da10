# shellcheck shell=bash
# PostgreSQL (Debian package) on 127.0.0.1:55432, own cluster under $FERRY_SERVICES_DIR/postgres.
# Sourced by up.sh/down.sh/status.sh after common.sh.

POSTGRES_PORT=55432
POSTGRES_USER=ferry
POSTGRES_PASSWORD=ferry
POSTGRES_DB=ferry
POSTGRES_OS_USER=postgres

postgres_comm() { echo postgres; }
postgres_ports() { echo "$POSTGRES_PORT"; }
postgres_packages() { echo postgresql; } # brings postgresql-<ver> and its psql

# The newest Debian server binaries, /usr/lib/postgresql/<ver>/bin (never /usr/local/bin).
postgres_bindir() {
  local d best="" bestv=0 v
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/postgres" && -x "$d/initdb" ]] || continue
    v="$(basename "$(dirname "$d")")"
    [[ "$v" =~ ^[0-9]+$ ]] || continue
    if ((v > bestv)); then
      bestv=$v
      best=$d
    fi
  done
  [[ -n "$best" ]] || return 1
  echo "$best"
}

postgres_base() { svc_dir postgres; }
postgres_data() { echo "$(postgres_base)/data"; }
postgres_sockdir() { echo "$(postgres_base)/run"; }

postgres_install() {
  postgres_bindir >/dev/null || die_service postgres "no PostgreSQL server under /usr/lib/postgresql/*/bin after installing"
  id -u "$POSTGRES_OS_USER" >/dev/null 2>&1 || die_service postgres "OS user '$POSTGRES_OS_USER' is missing"
}

# psql as the ferry role over TCP (what the tests do).
postgres_psql_tcp() {
  PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT=3 "$(postgres_bindir)/psql" -X -q -At -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$POSTGRES_PORT user=$POSTGRES_USER dbname=$POSTGRES_DB" "$@" </dev/null
}

# psql as the postgres superuser over the private unix socket (peer auth).
postgres_psql_admin() {
  run_as "$POSTGRES_OS_USER" env HOME="$(postgres_base)" PGCONNECT_TIMEOUT=3 \
    "$(postgres_bindir)/psql" -X -q -At -v ON_ERROR_STOP=1 \
    -h "$(postgres_sockdir)" -p "$POSTGRES_PORT" -U postgres -d postgres "$@"
}

# Accepting connections (before provisioning).
postgres_ready() {
  "$(postgres_bindir)/pg_isready" -q -h "$(postgres_sockdir)" -p "$POSTGRES_PORT" -t 2
}

# Fully usable by the tests: the ferry role logs in over TCP and logical decoding is on.
postgres_healthy() {
  [[ "$(postgres_psql_tcp -c 'SHOW wal_level' 2>/dev/null)" == logical ]]
}

postgres_write_config() {
  local data sock
  data="$(postgres_data)"
  sock="$(postgres_sockdir)"
  cat >"$data/ferry.conf" <<EOF
# Written by test/services/lib/postgres.sh on every start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $POSTGRES_PORT
unix_socket_directories = '$sock'
max_connections = 200
shared_buffers = 128MB
password_encryption = 'scram-sha-256'
# logical replication / CDC
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
# throw-away test data: speed over durability
fsync = off
synchronous_commit = off
full_page_writes = off
# logging goes to stderr, i.e. the service log file
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
log_checkpoints = off
EOF
  cat >"$data/pg_hba.conf" <<EOF
# Written by test/services/lib/postgres.sh on every start; edits are overwritten.
# TYPE  DATABASE     USER      ADDRESS         METHOD
local   all          postgres                  peer
local   replication  postgres                  peer
local   all          all                       scram-sha-256
host    all          all       127.0.0.1/32    scram-sha-256
host    replication  all       127.0.0.1/32    scram-sha-256
EOF
  grep -q "^include_if_exists = 'ferry.conf'" "$data/postgresql.conf" ||
    printf "\ninclude_if_exists = 'ferry.conf'\n" >>"$data/postgresql.conf"
  chown "$POSTGRES_OS_USER:" "$data/ferry.conf" "$data/pg_hba.conf"
  chmod 600 "$data/ferry.conf" "$data/pg_hba.conf"
}

postgres_prepare() {
  local base data bindir
  base="$(postgres_base)"
  data="$(postgres_data)"
  bindir="$(postgres_bindir)"
  mkdir -p "$base"
  chown "$POSTGRES_OS_USER:" "$base"
  chmod 755 "$base"
  install -d -o "$POSTGRES_OS_USER" -g "$(id -gn "$POSTGRES_OS_USER")" -m 700 "$(postgres_sockdir)"
  # A data dir without our marker is a half-finished initdb: start over.
  if [[ -d "$data" && ! -f "$data/.ferry-initialized" ]]; then
    say "postgres: removing incomplete data dir $data"
    rm -rf "$data"
  fi
  if [[ ! -d "$data" ]]; then
    say "postgres: initdb $data ($bindir)"
    run_as "$POSTGRES_OS_USER" env HOME="$base" "$bindir/initdb" -D "$data" -U postgres \
      --encoding=UTF8 --no-locale --auth-local=peer --auth-host=scram-sha-256 --no-sync \
      >>"$(svc_log postgres)" 2>&1
    touch "$data/.ferry-initialized"
  fi
  postgres_write_config
}

postgres_spawn() {
  local data
  data="$(postgres_data)"
  # A postmaster killed with -9 leaves postmaster.pid behind; postgres itself checks whether that pid
  # is still alive and removes the file if not.
  spawn_detached "$(svc_pidfile postgres)" "$(svc_log postgres)" \
    setpriv --reuid="$POSTGRES_OS_USER" --regid="$POSTGRES_OS_USER" --init-groups \
    env HOME="$(postgres_base)" "$(postgres_bindir)/postgres" -D "$data"
}

postgres_provision() {
  postgres_psql_admin >>"$(svc_log postgres)" 2>&1 <<SQL
SELECT 'provisioning role and database $POSTGRES_USER';
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$POSTGRES_USER') THEN
    CREATE ROLE $POSTGRES_USER LOGIN SUPERUSER REPLICATION PASSWORD '$POSTGRES_PASSWORD';
  ELSE
    ALTER ROLE $POSTGRES_USER LOGIN SUPERUSER REPLICATION PASSWORD '$POSTGRES_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $POSTGRES_DB OWNER $POSTGRES_USER'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$POSTGRES_DB')
\gexec
SQL
}

postgres_stop() {
  # SIGINT = "fast" shutdown (SIGTERM would wait for every client to disconnect).
  stop_pid "$(svc_pidfile postgres)" postgres INT 30
}

postgres_describe() {
  echo "127.0.0.1:$POSTGRES_PORT user=$POSTGRES_USER password=$POSTGRES_PASSWORD db=$POSTGRES_DB"
}
