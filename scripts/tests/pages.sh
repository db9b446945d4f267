#!/usr/bin/env bash
# The demo report and the documentation pages in headless Chromium, driven by Playwright, built from names that are
# script-injection strings: they are shown as text and nothing injected runs, hover included (the interactive map
# has its own test, map.sh). Needs Chromium and Playwright (scripts/tests/_browser.bash says what happens without them).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/tests/_browser.bash
need_browser "The pages' browser test"
python scripts/tests/pages_browser.py
