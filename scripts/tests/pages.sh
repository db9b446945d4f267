#!/usr/bin/env bash
# The demo report and the documentation pages in headless Chromium, driven by Playwright, built from names that are
# script-injection strings: they are shown as text and nothing injected runs, hover included (the interactive map
# has its own test, map.sh). Chromium is Debian's `chromium` package (.ci/run installs it); Playwright comes with
# the dev requirements. Without either this test fails, unless DUAL_IFM_SKIP_BROWSER=1 is set (then it is skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
browser=$(command -v chromium || command -v chromium-browser || true)
missing=""
[ -z "$browser" ] && missing="Chromium (apt-get install chromium)"
python -c "import playwright" 2>/dev/null || missing="${missing:+$missing and }Playwright (pip install playwright)"
if [ -n "$missing" ]; then
  if [ "${DUAL_IFM_SKIP_BROWSER:-0}" = 1 ]; then echo "SKIPPED: the pages' browser test needs $missing (DUAL_IFM_SKIP_BROWSER=1)"; exit 0; fi
  echo "The pages' browser test needs $missing; install it or set DUAL_IFM_SKIP_BROWSER=1 to skip"; exit 1
fi
python scripts/tests/pages_browser.py
