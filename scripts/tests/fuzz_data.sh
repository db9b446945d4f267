#!/usr/bin/env bash
# Fuzz test of the data path (prepare, cache, embed --images) with hostile inputs: truncated, zero-byte and
# wrong-extension files, 1xN and very wide images, 16-bit, alpha and CMYK images, an animated GIF, an EXIF-rotated
# photograph and a file name that is not UTF-8. See scripts/tests/fuzz_data.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
python scripts/tests/fuzz_data.py
