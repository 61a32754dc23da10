#!/usr/bin/env bash
# Show whether each test service is running and answering. Exit 0 only if all asked for are healthy.
#
#   bash test/services/status.sh [postgres|mariadb|sshd|kafka|spyne|schemathesis|chromium ...]
#     (default: all services and tools; a tool is installed or missing)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
for _svc in "${FERRY_SERVICES_ALL[@]}" "${FERRY_TOOLS_ALL[@]}"; do
  # shellcheck disable=SC1090
  source "$HERE/lib/$_svc.sh"
done

parse_services "$@"
bad=0
printf '%-12s %-9s %-8s %-13s %s\n' SERVICE STATE PID PORTS "LOG / ENDPOINT"
for s in "${SERVICES[@]}"; do
  pid="-"
  if svc_running "$s"; then
    pid="$(pid_of "$(svc_pidfile "$s")")"
    if "${s}_healthy" >/dev/null 2>&1; then
      state=healthy
    else
      state=unhealthy
      bad=1
    fi
  else
    state=stopped
    [[ -e "$(svc_pidfile "$s")" ]] && state=stale-pid
    bad=1
  fi
  printf '%-12s %-9s %-8s %-13s %s\n' "$s" "$state" "$pid" "$("${s}_ports" | tr ' ' ,)" "$(svc_log "$s")"
  [[ "$state" == healthy ]] && printf '%-45s %s\n' "" "$("${s}_describe")"
done
for t in "${TOOLS[@]}"; do
  if "${t}_installed" >/dev/null 2>&1; then
    printf '%-12s %-9s %-8s %-13s %s\n' "$t" installed - - "$("${t}_describe")"
  else
    printf '%-12s %-9s %-8s %-13s %s\n' "$t" missing - - "bash test/services/up.sh $t"
    bad=1
  fi
done
printf 'state dir: %s   cache: %s\n' "$FERRY_SERVICES_DIR" "$FERRY_CACHE_DIR"
exit "$bad"
