#!/usr/bin/env bash
# Bring up the real services the integration tests talk to (PostgreSQL, MariaDB, sshd/SFTP, Kafka),
# all on 127.0.0.1 with fixed ports. Installs what is missing (apt, mvn), starts what is not running,
# waits (bounded) until each answers. Idempotent; a second run with everything up takes well under a
# second or two.
#
#   bash test/services/up.sh [postgres|mariadb|sshd|kafka|spyne|schemathesis|chromium ...]
#     (default: the five services and both tools; a tool is installed only, nothing is started)
#
# State: ${FERRY_SERVICES_DIR:-/tmp/ferry-services}; logs: <state>/logs/<service>.log;
# Kafka jars, spyne's and Schemathesis' virtualenvs: ${XDG_CACHE_HOME:-$HOME/.cache}/ferry/. See test/services/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
for _svc in "${FERRY_SERVICES_ALL[@]}"; do
  # shellcheck disable=SC1090
  source "$HERE/lib/$_svc.sh"
done
for _tool in "${FERRY_TOOLS_ALL[@]}"; do
  # shellcheck disable=SC1090
  source "$HERE/lib/$_tool.sh"
done
trap ferry_on_exit EXIT

parse_services "$@"
NAMED=("${SERVICES[@]}" "${TOOLS[@]}")
t0="$(date +%s%N)"
elapsed() { printf '%d.%02ds' $((($(date +%s%N) - t0) / 1000000000)) $(((($(date +%s%N) - t0) / 10000000) % 100)); }

take_lock

# Tools the tests run (no process to start): installed once, cached.
for t in "${TOOLS[@]}"; do
  working_on "$t"
  read -r -a _p <<<"$("${t}_packages")"
  apt_ensure "${_p[@]}"
  working_on "$t"
  "${t}_install"
  say "$t: installed $("${t}_describe")"
done
FERRY_CURRENT_SERVICE=""

svc_timeout() {
  case "$1" in
    kafka) echo "$KAFKA_READY_TIMEOUT" ;;
    # Generous: only a service that never comes up waits this long, and a loaded CI machine can take
    # minutes to start a database that takes seconds here.
    sshd) echo 60 ;;
    *) echo 180 ;;
  esac
}

# --- phase 0: what is already up? ------------------------------------------------------------------
TODO=()
for s in "${SERVICES[@]}"; do
  if svc_running "$s" && "${s}_healthy" >/dev/null 2>&1; then
    say "$s: up (pid $(pid_of "$(svc_pidfile "$s")")) $("${s}_describe")"
  else
    TODO+=("$s")
  fi
done
if [[ ${#TODO[@]} -eq 0 ]]; then
  say "all up: ${NAMED[*]} ($(elapsed))"
  exit 0
fi

# --- phase 1: install what is missing ----------------------------------------------------------------
PKGS=()
for s in "${TODO[@]}"; do
  working_on "$s"
  read -r -a _p <<<"$("${s}_packages")"
  PKGS+=("${_p[@]}")
done
FERRY_CURRENT_SERVICE=""
apt_ensure "${PKGS[@]}"
for s in "${TODO[@]}"; do
  working_on "$s"
  "${s}_install"
done

# --- phase 2: start what is not running (all at once, so slow starters overlap) ----------------------
for s in "${TODO[@]}"; do
  working_on "$s"
  if svc_running "$s"; then
    say "$s: running (pid $(pid_of "$(svc_pidfile "$s")")) but not healthy yet; waiting for it"
    continue
  fi
  if [[ -e "$(svc_pidfile "$s")" ]]; then
    say "$s: stale pid file (pid $(pid_of "$(svc_pidfile "$s")") is gone); restarting"
    rm -f "$(svc_pidfile "$s")"
  fi
  for port in $("${s}_ports"); do
    # A process of ours that was just killed may still hold the port for a moment.
    if ! wait_port_free "$port" 5; then
      die_service "$s" "port 127.0.0.1:$port is already in use by a process this script did not start" \
        "($(ss -Hltnp "sport = :$port" 2>/dev/null | awk '{print $NF}' | head -n1 || true))"
    fi
  done
  "${s}_prepare"
  if ! "${s}_spawn"; then
    die_service "$s" "could not start (no pid file written)"
  fi
  say "$s: started (pid $(pid_of "$(svc_pidfile "$s")")), log $(svc_log "$s")"
done

# --- phase 3: wait until each answers, then provision users/databases --------------------------------
for s in "${TODO[@]}"; do
  working_on "$s"
  timeout_s="$(svc_timeout "$s")"
  attempt=1
  while :; do
    rc=0
    wait_ready "$s" "$timeout_s" || rc=$?
    [[ $rc -eq 0 ]] && break
    if [[ $rc -eq 2 && $attempt -lt 3 ]]; then
      # e.g. PostgreSQL refusing to start while backends of a killed postmaster are still exiting.
      say "$s: exited while starting (attempt $attempt); retrying in 2s"
      attempt=$((attempt + 1))
      sleep 2
      "${s}_spawn" || die_service "$s" "could not start (no pid file written)"
      continue
    fi
    if [[ $rc -eq 2 ]]; then
      die_service "$s" "the process exited while starting ($attempt attempts)"
    fi
    die_service "$s" "not ready within ${timeout_s}s (process $(pid_of "$(svc_pidfile "$s")") still running;" \
      "stop it with: bash test/services/down.sh $s)"
  done
  "${s}_provision"
  if ! "${s}_healthy" >/dev/null 2>&1; then
    die_service "$s" "answers, but the health check as the test user failed after provisioning"
  fi
  say "$s: up (pid $(pid_of "$(svc_pidfile "$s")")) $("${s}_describe")"
done
FERRY_CURRENT_SERVICE=""
say "all up: ${NAMED[*]} ($(elapsed))"
