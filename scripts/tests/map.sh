#!/usr/bin/env bash
# The interactive map (dual_ifm.embedding.html_map) in headless Chromium, driven by Playwright: points drawn (read
# back from the canvas), zoom, pan, colour, search, box selection and its CSV, hover with photograph and evidence, and
# a prepared set whose file names and label values are script-injection strings (shown as text, nothing runs).
# Needs Chromium and Playwright (scripts/tests/_browser.bash says what happens without them).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/tests/_browser.bash
need_browser "The map's browser test"
python scripts/tests/map_browser.py
