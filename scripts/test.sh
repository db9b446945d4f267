#!/usr/bin/env bash
# The whole test suite of dual_ifm. Test groups:
#   export   the package in dual_ifm/ is exactly what nbdev_export makes from nbs/
#   readme   README.md is what scripts/make_readme.py makes from nbs/index.ipynb
#   <nb>     every notebook in nbs/, run by nbdev_test (cells flagged `slow` or `gpu` are skipped unless
#            TEST_FLAGS="slow gpu" is set)
#   <mp>     every multi-process test script in scripts/tests/ (e.g. torchrun with the gloo backend)
# Checks that need hardware or a system this machine lacks (AVX-512 kernels, Linux page faults) are not passed
# silently: they call dual_ifm.core.skip_test, and the run lists them by name at the end.
# Prints one line per group and `N passed, N failed, N skipped` (groups; skipped: checks); exits non-zero when a group
# fails or nothing ran.
# Usage: scripts/test.sh [group-name-pattern]      e.g. scripts/test.sh 01_, scripts/test.sh export
set -u
cd "$(dirname "$0")/.."
export WANDB_MODE=disabled MPLBACKEND=Agg PYTHONHASHSEED=0
pattern="${1:-}"
logdir=$(mktemp -d)
export DUAL_IFM_SKIPS="$logdir/skipped.txt"; : > "$DUAL_IFM_SKIPS"
passed=0; failed=0; failures=()

group() {  # group NAME COMMAND...: run one test group, record and report it
  local name=$1; shift
  local start=$SECONDS
  if "$@" >"$logdir/$name.log" 2>&1; then
    passed=$((passed + 1)); printf 'PASS  %-24s %4ss\n' "$name" $((SECONDS - start))
  else
    failed=$((failed + 1)); failures+=("$name"); printf 'FAIL  %-24s %4ss\n' "$name" $((SECONDS - start))
    sed 's/^/      | /' "$logdir/$name.log" | tail -n 60
  fi
}

export_in_sync() {
  nbdev_export || return 1
  if git rev-parse --git-dir >/dev/null 2>&1; then
    local changed
    changed=$(git status --porcelain -- dual_ifm)
    if [ -n "$changed" ]; then
      echo "dual_ifm/ differs from what the notebooks export (edit nbs/, run nbdev_export, commit both):"
      echo "$changed"; git --no-pager diff --stat -- dual_ifm; return 1
    fi
  else
    echo "not a git checkout: the export ran but could not be compared"
  fi
}

selected() { [ -z "$pattern" ] || [[ "$1" == *"$pattern"* ]]; }    # a group runs when its name contains the pattern
selected export && group export export_in_sync
selected readme && group readme python scripts/make_readme.py --check
for nb in nbs/*.ipynb; do
  name=$(basename "$nb" .ipynb)
  selected "$name" || continue
  group "$name" nbdev_test --path "$nb" --flags "${TEST_FLAGS:-}" --do_print
done
if [ -d scripts/tests ]; then
  for t in scripts/tests/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    selected "$name" || continue
    group "$name" bash "$t"
  done
fi

skipped=$(sort -u "$DUAL_IFM_SKIPS" | grep -c . || true)
if [ "$skipped" -gt 0 ]; then echo "skipped checks (hardware or system not here):"; sort -u "$DUAL_IFM_SKIPS" | sed 's/^/  SKIP  /'; fi
rm -rf "$logdir"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" -gt 0 ]; then echo "failed: ${failures[*]}"; exit 1; fi
if [ "$passed" -eq 0 ]; then echo "no test ran (pattern '${pattern}' matched nothing?)"; exit 1; fi
exit 0
