# Sourced by the browser tests (map.sh, pages.sh): `need_browser WHAT` returns when Chromium (Debian's `chromium`
# package; .ci/run installs it) and Playwright (a dev requirement) are here. Without either the test fails, unless
# DUAL_IFM_SKIP_BROWSER=1 is set, in which case it is skipped with the reason.
need_browser() {
  local what=$1 missing=""
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="Chromium (apt-get install chromium)"
  python -c "import playwright" 2>/dev/null || missing="${missing:+$missing and }Playwright (pip install playwright)"
  [ -z "$missing" ] && return 0
  if [ "${DUAL_IFM_SKIP_BROWSER:-0}" = 1 ]; then echo "SKIPPED: $what needs $missing (DUAL_IFM_SKIP_BROWSER=1)"; exit 0; fi
  echo "$what needs $missing; install it or set DUAL_IFM_SKIP_BROWSER=1 to skip"; exit 1
}
