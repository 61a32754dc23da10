# shellcheck shell=bash
# Schemathesis (PyPI), the independent OpenAPI tester that the admin API's contract test runs
# (packages/cli/test/integration/schemathesis.test.ts). A tool, not a service: nothing to start, only a
# virtualenv built once under $FERRY_CACHE_DIR and reused, like spyne's. Every package in it is pinned
# (schemathesis-requirements.txt, a `pip freeze` of a fresh install), so a new release of a dependency can
# never change what the test checks. Sourced by up.sh and status.sh after common.sh (and spyne.sh, whose
# spyne_python it uses).

SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV="$FERRY_CACHE_DIR/schemathesis-$SCHEMATHESIS_VERSION-venv"
SCHEMATHESIS_REQUIREMENTS="$FERRY_LIB_DIR/schemathesis-requirements.txt"

schemathesis_packages() { echo ""; } # Python 3.11+ with venv and pip is a prerequisite of the machine

schemathesis_installed() { [[ -f "$SCHEMATHESIS_VENV/.ferry-installed" ]]; }

schemathesis_describe() { echo "$SCHEMATHESIS_VENV/bin/schemathesis"; }

schemathesis_install() {
  # The marker is written last, so a half-built venv (an interrupted pip) is rebuilt.
  [[ -f "$SCHEMATHESIS_VENV/.ferry-installed" ]] && return 0
  local python log
  log="$(svc_log schemathesis)"
  working_on schemathesis
  python="$(spyne_python)" || die_service schemathesis "python3 not found (Schemathesis 4.32.5 needs Python 3.11 or later: set FERRY_PYTHON to one)"
  say "schemathesis: creating $SCHEMATHESIS_VENV with schemathesis==$SCHEMATHESIS_VERSION (log: $log)"
  rm -rf "$SCHEMATHESIS_VENV"
  mkdir -p "$FERRY_CACHE_DIR"
  "$python" -m venv "$SCHEMATHESIS_VENV" >>"$log" 2>&1
  "$SCHEMATHESIS_VENV/bin/python" -m pip install --disable-pip-version-check -q \
    -r "$SCHEMATHESIS_REQUIREMENTS" >>"$log" 2>&1
  "$SCHEMATHESIS_VENV/bin/schemathesis" --version >>"$log" 2>&1
  touch "$SCHEMATHESIS_VENV/.ferry-installed"
  FERRY_CURRENT_SERVICE=""
}
