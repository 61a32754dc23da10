#!/usr/bin/env bash
# Stop the test services started by up.sh (data is kept; see README.md to reset).
#
#   bash test/services/down.sh [postgres|mariadb|sshd|kafka|spyne ...]   (default: all five; tools have
#   nothing to stop)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
for _svc in "${FERRY_SERVICES_ALL[@]}"; do
  # shellcheck disable=SC1090
  source "$HERE/lib/$_svc.sh"
done
trap ferry_on_exit EXIT

parse_services "$@"
if [[ ! -d "$FERRY_SERVICES_DIR" ]]; then
  say "nothing to stop ($FERRY_SERVICES_DIR does not exist)"
  exit 0
fi
take_lock

# Stop in reverse order of the default list (kafka first: it takes longest).
for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
  s="${SERVICES[$i]}"
  working_on "$s"
  if svc_running "$s"; then
    pid="$(pid_of "$(svc_pidfile "$s")")"
    "${s}_stop"
    for port in $("${s}_ports"); do
      wait_port_free "$port" 10 || warn "$s: port $port still open after stopping pid $pid"
    done
    say "$s: stopped (was pid $pid)"
  else
    rm -f "$(svc_pidfile "$s")"
    say "$s: not running"
  fi
done
FERRY_CURRENT_SERVICE=""
