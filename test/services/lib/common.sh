# shellcheck shell=bash
# Shared helpers for test/services/{up,down,status}.sh. Sourced, never run.
#
# Every step runs under `set -euo pipefail`. A failing command aborts the script; the EXIT trap
# (ferry_on_exit) then prints a loud banner naming the service being worked on and its log file.
# Keep complex steps OUT of `if`/`||`/`&&` contexts: bash ignores `set -e` inside functions called
# there, so a failure in the middle of such a function would go unnoticed.

FERRY_SERVICES_ALL=(postgres mariadb sshd kafka spyne)
# Tools the tests run: installed once (lib/<tool>.sh: <tool>_packages, _install, _installed, _describe),
# nothing to start or stop. up.sh with no arguments installs them all, `up.sh <tool>` that one alone.
FERRY_TOOLS_ALL=(schemathesis chromium)

FERRY_SERVICES_DIR="${FERRY_SERVICES_DIR:-/tmp/ferry-services}"
FERRY_CACHE_DIR="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ferry"
FERRY_LOG_DIR="$FERRY_SERVICES_DIR/logs"
FERRY_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FERRY_REPO_DIR="$(cd "$FERRY_LIB_DIR/../../.." && pwd)"

# The service currently being worked on ("" = none) and the log to show if we die now.
FERRY_CURRENT_SERVICE=""
FERRY_CURRENT_LOG=""
FERRY_APT_UPDATED="${FERRY_APT_UPDATED:-0}"

# ---------------------------------------------------------------------------------------------------
# output

ferry_ts() { date +%H:%M:%S; }
say() { printf '[ferry-services %s] %s\n' "$(ferry_ts)" "$*"; }
warn() { printf '[ferry-services %s] WARNING: %s\n' "$(ferry_ts)" "$*" >&2; }

# Print the last lines of a log file (if any) to stderr.
show_log_tail() {
  local log="$1" n="${2:-30}"
  if [[ -n "$log" && -s "$log" ]]; then
    printf -- '---- last %s lines of %s ----\n' "$n" "$log" >&2
    tail -n "$n" "$log" >&2 || true
    printf -- '---- end of %s ----\n' "$log" >&2
  elif [[ -n "$log" ]]; then
    printf -- '---- log file %s is missing or empty ----\n' "$log" >&2
  fi
}

# die_service SERVICE MESSAGE...: loud failure naming the service and its log, exits 1.
die_service() {
  local svc="$1"
  shift
  local log
  log="$(svc_log "$svc")"
  # Already reported: keep the EXIT trap from printing a second banner.
  FERRY_CURRENT_SERVICE=""
  {
    printf '\n'
    printf '%s\n' '##########################################################################'
    printf '### FERRY TEST SERVICE FAILED: %s\n' "$svc"
    printf '### %s\n' "$*"
    printf '### log file: %s\n' "$log"
    printf '### (reset with: bash test/services/down.sh %s && rm -rf %s/%s)\n' \
      "$svc" "$FERRY_SERVICES_DIR" "$svc"
    printf '%s\n' '##########################################################################'
  } >&2
  show_log_tail "$log" 30
  exit 1
}

die() {
  printf '\n### FERRY TEST SERVICES FAILED: %s\n' "$*" >&2
  exit 1
}

# EXIT trap: an unexpected command failure while working on a service becomes a loud banner.
ferry_on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && -n "$FERRY_CURRENT_SERVICE" ]]; then
    local svc="$FERRY_CURRENT_SERVICE" log="${FERRY_CURRENT_LOG:-$(svc_log "$FERRY_CURRENT_SERVICE")}"
    {
      printf '\n'
      printf '%s\n' '##########################################################################'
      printf '### FERRY TEST SERVICE FAILED: %s (a setup command exited with status %s; see above)\n' "$svc" "$rc"
      printf '### log file: %s\n' "$log"
      printf '%s\n' '##########################################################################'
    } >&2
    show_log_tail "$log" 30
  fi
  return "$rc"
}

# ---------------------------------------------------------------------------------------------------
# paths and service bookkeeping

svc_dir() { printf '%s/%s' "$FERRY_SERVICES_DIR" "$1"; }
svc_log() { printf '%s/%s.log' "$FERRY_LOG_DIR" "$1"; }
svc_pidfile() { printf '%s/%s/%s.pid' "$FERRY_SERVICES_DIR" "$1" "$1"; }

# Set the service that a failure from now on should be blamed on.
working_on() {
  FERRY_CURRENT_SERVICE="$1"
  FERRY_CURRENT_LOG="${2:-$(svc_log "$1")}"
}

is_known_service() {
  local s
  for s in "${FERRY_SERVICES_ALL[@]}"; do [[ "$s" == "$1" ]] && return 0; done
  return 1
}

is_known_tool() {
  local t
  for t in "${FERRY_TOOLS_ALL[@]}"; do [[ "$t" == "$1" ]] && return 0; done
  return 1
}

# Parse the service arguments of a script into the global arrays SERVICES and TOOLS (default: all of both).
parse_services() {
  SERVICES=()
  TOOLS=()
  local s
  if [[ $# -eq 0 ]]; then
    SERVICES=("${FERRY_SERVICES_ALL[@]}")
    TOOLS=("${FERRY_TOOLS_ALL[@]}")
    return 0
  fi
  for s in "$@"; do
    case "$s" in
      sftp) s=sshd ;;
      mysql) s=mariadb ;;
      pg | postgresql) s=postgres ;;
    esac
    if is_known_tool "$s"; then
      TOOLS+=("$s")
      continue
    fi
    is_known_service "$s" || die "unknown service '$s' (known: ${FERRY_SERVICES_ALL[*]} ${FERRY_TOOLS_ALL[*]})"
    SERVICES+=("$s")
  done
}

# Root-owned state dir, logs dir; refuse a state dir that another user could tamper with
# (sshd's chroot and host keys live there).
ensure_state_dirs() {
  if [[ ! -d "$FERRY_SERVICES_DIR" ]]; then
    mkdir -p "$FERRY_SERVICES_DIR"
  fi
  local owner mode
  owner="$(stat -c %u "$FERRY_SERVICES_DIR")"
  mode="$(stat -c %a "$FERRY_SERVICES_DIR")"
  if [[ "$owner" != "$(id -u)" ]]; then
    die "$FERRY_SERVICES_DIR is owned by uid $owner, not by $(id -un); remove it or set FERRY_SERVICES_DIR"
  fi
  if [[ "$mode" != 755 ]]; then chmod 755 "$FERRY_SERVICES_DIR"; fi
  mkdir -p "$FERRY_LOG_DIR"
  chmod 755 "$FERRY_LOG_DIR"
}

# One up/down at a time per state dir (npm test and a developer's shell may race).
take_lock() {
  ensure_state_dirs
  exec 9>"$FERRY_SERVICES_DIR/.lock"
  if ! flock -w 900 9; then
    die "could not lock $FERRY_SERVICES_DIR/.lock within 900 s (another up.sh/down.sh is stuck?)"
  fi
}

# ---------------------------------------------------------------------------------------------------
# processes

# pid_alive PIDFILE COMM: the pid file names a live process whose command name is COMM.
pid_alive() {
  local pidfile="$1" comm="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(head -n1 "$pidfile" 2>/dev/null | tr -dc 0-9)"
  [[ -n "$pid" ]] || return 1
  [[ -r "/proc/$pid/comm" ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
  # A zombie or a dying process is not running.
  local state
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ "$state" != Z && "$state" != X ]]
}

pid_of() { head -n1 "$1" 2>/dev/null | tr -dc 0-9; }

# svc_running SERVICE: its pid file names a live process of the expected kind.
svc_running() { pid_alive "$(svc_pidfile "$1")" "$("${1}_comm")"; }

# spawn_detached PIDFILE LOGFILE CMD...: start CMD in its own session, detached from this script,
# stdin from /dev/null, stdout+stderr appended to LOGFILE, the lock fd (9) closed so a daemon never
# holds the up/down lock. The pid written is CMD's own pid (the
# wrapper shell writes $$ and then execs; exec keeps the pid).
spawn_detached() {
  local pidfile="$1" logfile="$2"
  shift 2
  rm -f "$pidfile"
  printf '\n===== %s starting: %s =====\n' "$(date -Is)" "$*" >>"$logfile"
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' ferry-spawn "$pidfile" "$@" \
    </dev/null >>"$logfile" 2>&1 9>&- &
  # Wait (briefly) for the pid file so callers can rely on it.
  local i
  for i in $(seq 1 50); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  return 1
}

# stop_pid PIDFILE COMM SIGNAL TIMEOUT_S: signal the process, wait for it to go, SIGKILL after the
# timeout. A stale pid file is just removed.
stop_pid() {
  local pidfile="$1" comm="$2" sig="$3" timeout="$4" pid i
  if ! pid_alive "$pidfile" "$comm"; then
    rm -f "$pidfile"
    return 0
  fi
  pid="$(pid_of "$pidfile")"
  kill "-$sig" "$pid" 2>/dev/null || true
  for i in $(seq 1 $((timeout * 10))); do
    pid_alive "$pidfile" "$comm" || break
    sleep 0.1
  done
  if pid_alive "$pidfile" "$comm"; then
    warn "pid $pid ($comm) did not stop within ${timeout}s after SIG$sig; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_port_free PORT SECONDS
wait_port_free() {
  local port="$1" secs="$2" i
  for i in $(seq 1 $((secs * 10))); do
    port_open "$port" || return 0
    sleep 0.1
  done
  return 1
}

# run_as USER CMD...: run CMD as USER (no login, no PAM), with HOME set to the service dir.
run_as() {
  local user="$1"
  shift
  (cd / && setpriv --reuid="$user" --regid="$user" --init-groups "$@")
}

# ---------------------------------------------------------------------------------------------------
# installation

pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# apt_ensure PKG...: install the packages that are missing. `apt-get update` runs at most once per
# run, and only when something is missing. Services are prevented from starting during the install
# (no systemd here; the distro's own postgres/mariadb/sshd on default ports must not come up).
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null || die "packages missing (${missing[*]}) and apt-get is not available"
  [[ "$(id -u)" == 0 ]] || die "packages missing (${missing[*]}); run as root or install them by hand"

  local log="$FERRY_LOG_DIR/apt.log"
  working_on apt "$log"
  export DEBIAN_FRONTEND=noninteractive
  local aptopts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
  if [[ "$FERRY_APT_UPDATED" != 1 ]]; then
    say "apt-get update (missing: ${missing[*]})"
    # A mirror can fail for a moment on a busy network: three tries, 10 s apart.
    local try
    for try in 1 2 3; do
      apt-get "${aptopts[@]}" update </dev/null >>"$log" 2>&1 && break
      [[ $try == 3 ]] && die_service apt "apt-get update failed 3 times (a retry later may help)"
      say "apt-get update failed (try $try of 3); retrying in 10s"
      sleep 10
    done
    FERRY_APT_UPDATED=1
  fi
  say "apt-get install ${missing[*]} (log: $log)"

  # Block service auto-start by the packages' maintainer scripts, unless a policy is already set.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# written by ferry test/services for the duration of an apt-get install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
  fi
  local rc=0 attempt
  for attempt in 1 2 3; do
    rc=0
    apt-get "${aptopts[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null >>"$log" 2>&1 || rc=$?
    [[ $rc -eq 0 || $attempt == 3 ]] && break
    say "apt-get install failed (exit $rc, try $attempt of 3); retrying in 10s"
    sleep 10
  done
  [[ $ours == 1 ]] && rm -f "$policy"
  if [[ $rc -ne 0 ]]; then
    die_service apt "apt-get install ${missing[*]} failed (exit $rc)"
  fi
  FERRY_CURRENT_SERVICE=""
}

# wait_healthy SERVICE TIMEOUT_S: poll ${SERVICE}_ready until it succeeds, the process dies, or the
# timeout passes. Returns 0 ready, 1 timeout, 2 process died.
wait_ready() {
  local svc="$1" timeout="$2" deadline
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if "${svc}_ready" >/dev/null 2>&1; then return 0; fi
    if ! svc_running "$svc"; then
      # One last look: it may have finished and we raced the check.
      "${svc}_ready" >/dev/null 2>&1 && return 0
      return 2
    fi
    sleep 0.25
  done
  return 1
}
