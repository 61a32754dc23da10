# shellcheck shell=bash
# MariaDB (Debian package) on 127.0.0.1:53306, own datadir under $FERRY_SERVICES_DIR/mariadb, binlog
# on (ROW) for CDC. Sourced by up.sh/down.sh/status.sh after common.sh.

MARIADB_PORT=53306
MARIADB_USER=ferry
MARIADB_PASSWORD=ferry
MARIADB_DB=ferry
MARIADB_OS_USER=mysql

mariadb_comm() { echo mariadbd; }
mariadb_ports() { echo "$MARIADB_PORT"; }
mariadb_packages() { echo mariadb-server mariadb-client; }

mariadb_base() { svc_dir mariadb; }
mariadb_data() { echo "$(mariadb_base)/data"; }
mariadb_cnf() { echo "$(mariadb_base)/my.cnf"; }
mariadb_sock() { echo "$(mariadb_base)/run/mariadbd.sock"; }

mariadb_install() {
  [[ -x /usr/sbin/mariadbd ]] || die_service mariadb "/usr/sbin/mariadbd missing after installing mariadb-server"
  command -v mariadb-install-db >/dev/null || die_service mariadb "mariadb-install-db missing"
  id -u "$MARIADB_OS_USER" >/dev/null 2>&1 || die_service mariadb "OS user '$MARIADB_OS_USER' is missing"
}

# Admin connection: MariaDB root over the private socket (unix_socket auth as OS root).
mariadb_admin_sql() {
  mariadb --no-defaults --protocol=socket -S "$(mariadb_sock)" -u root --connect-timeout=3 -N -B "$@"
}

# The ferry user over TCP (what the tests do).
mariadb_tcp_sql() {
  mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" -u "$MARIADB_USER" \
    "-p$MARIADB_PASSWORD" --connect-timeout=3 -N -B "$@" </dev/null
}

mariadb_ready() {
  mariadb-admin --no-defaults --protocol=socket -S "$(mariadb_sock)" -u root --connect-timeout=2 ping </dev/null
}

mariadb_healthy() {
  [[ "$(mariadb_tcp_sql -e 'SELECT @@log_bin, @@binlog_format' "$MARIADB_DB" 2>/dev/null)" == $'1\tROW' ]]
}

mariadb_write_config() {
  local base
  base="$(mariadb_base)"
  cat >"$(mariadb_cnf)" <<EOF
# Written by test/services/lib/mariadb.sh on every start; edits are overwritten.
# mariadbd is started with --defaults-file=this file, so /etc/mysql is never read.
[mysqld]
user = $MARIADB_OS_USER
datadir = $(mariadb_data)
socket = $(mariadb_sock)
pid-file = $base/run/mariadbd.pid
tmpdir = $base/tmp
port = $MARIADB_PORT
bind-address = 127.0.0.1
skip-name-resolve
# binlog for CDC work
log_bin = mariadb-bin
binlog_format = ROW
binlog_row_image = FULL
# column names, charsets and signedness in every table map, so a row decodes with the definition it was
# written with (an ALTER TABLE mid-stream), not the current one
binlog_row_metadata = FULL
server_id = 1
binlog_expire_logs_seconds = 172800
character_set_server = utf8mb4
collation_server = utf8mb4_unicode_ci
max_connections = 300
# throw-away test data: speed over durability
innodb_buffer_pool_size = 128M
innodb_log_file_size = 64M
innodb_flush_log_at_trx_commit = 2
innodb_doublewrite = 0
sync_binlog = 0
# errors go to stderr, i.e. the service log file
log_warnings = 1
EOF
  chmod 644 "$(mariadb_cnf)"
}

mariadb_prepare() {
  local base data group
  base="$(mariadb_base)"
  data="$(mariadb_data)"
  group="$(id -gn "$MARIADB_OS_USER")"
  mkdir -p "$base"
  chmod 755 "$base"
  install -d -o "$MARIADB_OS_USER" -g "$group" -m 750 "$base/run" "$base/tmp"
  mariadb_write_config
  if [[ -d "$data" && ! -f "$data/.ferry-initialized" ]]; then
    say "mariadb: removing incomplete datadir $data"
    rm -rf "$data"
  fi
  if [[ ! -d "$data" ]]; then
    say "mariadb: mariadb-install-db $data"
    install -d -o "$MARIADB_OS_USER" -g "$group" -m 750 "$data"
    (cd / && mariadb-install-db --defaults-file="$(mariadb_cnf)" --user="$MARIADB_OS_USER" \
      --datadir="$data" --auth-root-authentication-method=socket --skip-test-db \
      </dev/null >>"$(svc_log mariadb)" 2>&1)
    touch "$data/.ferry-initialized"
  fi
}

mariadb_spawn() {
  spawn_detached "$(svc_pidfile mariadb)" "$(svc_log mariadb)" \
    /usr/sbin/mariadbd --defaults-file="$(mariadb_cnf)"
}

mariadb_provision() {
  mariadb_admin_sql >>"$(svc_log mariadb)" 2>&1 <<SQL
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'localhost' IDENTIFIED BY '$MARIADB_PASSWORD';
ALTER USER '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
ALTER USER '$MARIADB_USER'@'localhost' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MARIADB_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$MARIADB_USER'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS \`$MARIADB_DB\`;
FLUSH PRIVILEGES;
SQL
}

mariadb_stop() {
  stop_pid "$(svc_pidfile mariadb)" mariadbd TERM 60
}

mariadb_describe() {
  echo "127.0.0.1:$MARIADB_PORT user=$MARIADB_USER password=$MARIADB_PASSWORD db=$MARIADB_DB (binlog ROW)"
}
