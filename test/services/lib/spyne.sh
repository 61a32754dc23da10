# shellcheck shell=bash
# A SOAP service built with Python's spyne (PyPI), on 127.0.0.1:58080: the second, independent SOAP
# implementation the @ferry/soap integration tests run against. Its virtualenv (spyne + lxml) is built once
# under $FERRY_CACHE_DIR and reused; the service script is packages/soap/test/servers/spyne_cases.py.
# Sourced by up.sh/down.sh/status.sh after common.sh.

SPYNE_PORT=58080
SPYNE_VERSION=2.14.0
SPYNE_LXML_VERSION=6.1.3
SPYNE_VENV="$FERRY_CACHE_DIR/spyne-$SPYNE_VERSION-venv"
SPYNE_SCRIPT="$FERRY_REPO_DIR/packages/soap/test/servers/spyne_cases.py"

spyne_comm() { echo python; } # the venv's bin/python, exec'd directly
spyne_ports() { echo "$SPYNE_PORT"; }
spyne_packages() { echo ""; } # Python 3 with venv and pip is a prerequisite of the machine

spyne_python() {
  if [[ -n "${FERRY_PYTHON:-}" ]]; then
    echo "$FERRY_PYTHON"
  else
    command -v python3 || return 1
  fi
}

spyne_install() {
  # The marker is written last, so a half-built venv (an interrupted pip) is rebuilt.
  [[ -f "$SPYNE_VENV/.ferry-installed" ]] && return 0
  local python log
  log="$(svc_log spyne)"
  python="$(spyne_python)" || die_service spyne "python3 not found (set FERRY_PYTHON to a Python 3.8-3.11 interpreter)"
  say "spyne: creating $SPYNE_VENV with spyne==$SPYNE_VERSION lxml==$SPYNE_LXML_VERSION (log: $log)"
  rm -rf "$SPYNE_VENV"
  mkdir -p "$FERRY_CACHE_DIR"
  "$python" -m venv "$SPYNE_VENV" >>"$log" 2>&1
  "$SPYNE_VENV/bin/python" -m pip install --disable-pip-version-check -q \
    "spyne==$SPYNE_VERSION" "lxml==$SPYNE_LXML_VERSION" >>"$log" 2>&1
  "$SPYNE_VENV/bin/python" -c 'import spyne, lxml' >>"$log" 2>&1
  touch "$SPYNE_VENV/.ferry-installed"
}

spyne_ready() {
  curl -fsS --max-time 2 "http://127.0.0.1:$SPYNE_PORT/health" >/dev/null
}

# Healthy = it answers its WSDL, which needs spyne and lxml working.
spyne_healthy() {
  curl -fsS --max-time 3 "http://127.0.0.1:$SPYNE_PORT/soap11?wsdl" | grep -q 'GetChangedCases'
}

spyne_prepare() { mkdir -p "$(svc_dir spyne)"; }

spyne_spawn() {
  spawn_detached "$(svc_pidfile spyne)" "$(svc_log spyne)" \
    "$SPYNE_VENV/bin/python" "$SPYNE_SCRIPT" --host 127.0.0.1 --port "$SPYNE_PORT"
}

spyne_provision() { :; }

spyne_stop() { stop_pid "$(svc_pidfile spyne)" python TERM 10; }

spyne_describe() {
  echo "http://127.0.0.1:$SPYNE_PORT/soap11 and /soap12 (WSDL at ?wsdl; test control at POST /control)"
}
