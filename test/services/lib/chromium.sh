# shellcheck shell=bash
# Chromium (Debian's `chromium`), the browser the shadow report's page is rendered in, headless
# (test/chromium.ts, packages/cli/test/integration/shadow-report-chromium.test.ts). A tool, not a service:
# installed once through apt_ensure (the package's dpkg status is the cache), then proved to start headless
# once per installed version (a marker under $FERRY_CACHE_DIR), nothing to start. Sourced by up.sh and
# status.sh after common.sh.

# fonts-dejavu-core: a font for the screenshots; `--no-install-recommends` brings none with chromium.
chromium_packages() { echo chromium fonts-dejavu-core; }

chromium_binary() {
  command -v chromium && return 0
  [[ -x /usr/bin/chromium ]] && echo /usr/bin/chromium
}

chromium_version() { "$(chromium_binary)" --version 2>/dev/null | head -n1; }

chromium_marker() {
  local version
  version="$(chromium_version | tr -c 'A-Za-z0-9.\n' _)"
  echo "$FERRY_CACHE_DIR/chromium-checked/$version"
}

chromium_installed() { [[ -n "$(chromium_binary)" && -f "$(chromium_marker)" ]]; }

# A binary that is there but cannot start headless (a missing library, no /dev/shm) fails here, with its
# output in the log, rather than in the middle of a test.
chromium_install() {
  local binary log profile out
  log="$(svc_log chromium)"
  working_on chromium
  binary="$(chromium_binary)" || die_service chromium "no chromium on PATH or at /usr/bin/chromium after installing it"
  if [[ -f "$(chromium_marker)" ]]; then
    FERRY_CURRENT_SERVICE=""
    return 0
  fi
  say "chromium: checking that $(chromium_version) renders a page headless (log: $log)"
  profile="$(mktemp -d)"
  out="$(timeout 60 "$binary" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$profile" --dump-dom \
    'data:text/html,<p id=ferry>ok</p>' 2>>"$log" || true)"
  rm -rf "$profile"
  if [[ "$out" != *'<p id="ferry">ok</p>'* ]]; then
    die_service chromium "$binary did not render a page headless (see the log)"
  fi
  mkdir -p "$(dirname "$(chromium_marker)")"
  touch "$(chromium_marker)"
  FERRY_CURRENT_SERVICE=""
}

chromium_describe() { echo "$(chromium_binary) ($(chromium_version))"; }
