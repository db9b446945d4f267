#!/usr/bin/env bash
# The interactive map (dual_ifm.embedding.html_map) in headless Chromium, driven by Playwright: points drawn (read
# back from the canvas), zoom, pan, colour, search, box selection and its CSV, hover with photograph and evidence, and
# a prepared set whose file names and label values are script-injection strings (shown as text, nothing runs).
# Chromium is Debian's `chromium` package (.ci/run installs it); Playwright comes with the dev requirements. Without
# either this test fails, unless DUAL_IFM_SKIP_BROWSER=1 is set, in which case it is skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
browser=$(command -v chromium || command -v chromium-browser || true)
missing=""
[ -z "$browser" ] && missing="Chromium (apt-get install chromium)"
python -c "import playwright" 2>/dev/null || missing="${missing:+$missing and }Playwright (pip install playwright)"
if [ -n "$missing" ]; then
  if [ "${DUAL_IFM_SKIP_BROWSER:-0}" = 1 ]; then echo "SKIPPED: the map's browser test needs $missing (DUAL_IFM_SKIP_BROWSER=1)"; exit 0; fi
  echo "The map's browser test needs $missing; install it or set DUAL_IFM_SKIP_BROWSER=1 to skip"; exit 1
fi
python scripts/tests/map_browser.py
