#!/usr/bin/env bash
# The whole test suite: Rust unit + end-to-end tests (which include the SDK contract suites
# against a real server), the SDK freshness check, and the SDKs' own checks (type checks,
# runtime unit tests). Needs a Rust toolchain, python3 and node ≥ 18.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Everything below is also written to a log the closing summary is counted from: cargo's
# "test result:" lines, pytest's summaries, node's TAP counts; tests that could not run
# (a service or toolchain missing) record themselves in the skip log and count as skipped.
log="$(mktemp)"
export ORRERY_TEST_SKIP_LOG="$(mktemp)"
summary() {
  local status="${1:-$?}"
  exec 1>&3 2>&4
  wait "$tee_pid" 2>/dev/null || true
  awk -v skipped="$(sort -u "$ORRERY_TEST_SKIP_LOG" | grep -c . || true)" '
    /^test result:/ { p += $4; f += $6; s += $8; next }
    /^# pass / { p += $3; next }
    /^# fail / { f += $3; next }
    /^# skipped / { s += $3; next }
    / in [0-9.]+s( \([0-9:]+\))?$/ && / (passed|failed)/ {
      for (i = 1; i < NF; i++) {
        if ($(i + 1) ~ /^passed/) p += $i
        if ($(i + 1) ~ /^failed/) f += $i
        if ($(i + 1) ~ /^skipped/) s += $i
      }
    }
    END { printf "tests: %d passed, %d failed, %d skipped\n", p - skipped, f, s + skipped }
  ' "$log"
  rm -f "$log" "$ORRERY_TEST_SKIP_LOG"
  exit "$status"
}
exec 3>&1 4>&2
exec > >(tee "$log") 2>&1
tee_pid=$!
trap summary EXIT
# shellcheck source=tests/sdk-env.sh
source tests/sdk-env.sh

echo "== cargo test (Rust unit + end-to-end + SDK contract suites)"
cargo test --workspace

echo "== Python SDKs: mypy --strict"
# Only real packages: `pip install ./sdks/python/…` (as the README says) leaves
# *.egg-info directories beside them.
for package in sdks/python/*/src/*/__init__.py; do
  package="$(dirname "$package")"
  (cd "$(dirname "$package")" && "$ORRERY_TEST_SDK_PYTHON" -m mypy --strict --no-incremental -p "$(basename "$package")")
done

echo "== Python SDKs: runtime unit tests"
(cd sdks/python && "$ORRERY_TEST_SDK_PYTHON" -m pytest tests/unit -q -p no:cacheprovider)

echo "== TypeScript SDKs: runtime unit tests (built with tsc --strict above)"
(cd sdks/typescript && node --test --test-reporter=tap tests/unit/runtime.test.mjs)

echo "== SDK packages build and import as distributed"
dist="$(mktemp -d)"
trap 'rc=$?; rm -rf "$dist"; summary "$rc"' EXIT
for package in sdks/python/*/pyproject.toml; do
  dir="$(dirname "$package")"
  cp -r "$dir" "$dist/src-$(basename "$dir")"
  # Leftovers of a local `pip install` must not end up in (or break) the wheel.
  rm -rf "$dist/src-$(basename "$dir")/build" "$dist/src-$(basename "$dir")"/src/*.egg-info
  "$ORRERY_TEST_SDK_PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$dist/wheels" "$dist/src-$(basename "$dir")"
done
for wheel in "$dist"/wheels/*.whl; do
  name="$(basename "$wheel" | cut -d- -f1)"
  "$ORRERY_TEST_SDK_PYTHON" -c "import sys, zipfile; sys.exit(0 if '$name/py.typed' in zipfile.ZipFile('$wheel').namelist() else '$wheel lacks py.typed')"
  PYTHONPATH="$wheel" "$ORRERY_TEST_SDK_PYTHON" -c "import $name, sys; assert $name.__file__.startswith('$wheel'), $name.__file__; print('$name', $name.__version__, 'imports from its wheel')"
done
# Each TypeScript package as a user installs it, into a scratch project: its npm pack
# tarball (built by its own prepare script), then required (CommonJS) and imported (ESM);
# and one package from a path, copied without its build output, as a fresh clone has it.
scratch="$dist/ts-scratch"
mkdir -p "$scratch"
(cd "$scratch" && npm init -y >/dev/null)
for package in sdks/typescript/*/package.json; do
  dir="$(dirname "$package")"
  name="$(node -p "require('./$package').name")"
  tarball="$(cd "$dir" && npm pack --pack-destination "$dist" --loglevel=error | tail -1)"
  (cd "$scratch" && npm install --no-audit --no-fund --loglevel=error "$dist/$tarball" >/dev/null)
  (cd "$scratch" && node -e "const m = require('$name'); if (typeof Object.values(m).find((v) => typeof v === 'function') !== 'function') process.exit(1)" \
    && node --input-type=module -e "const m = await import('$name'); if (!Object.keys(m).length) process.exit(1)")
  echo "$dir: npm pack → install → require and import work"
done
fresh="$dist/fresh-lexecon"
cp -r sdks/typescript/lexecon "$fresh"
rm -rf "$fresh/dist" "$fresh"/*.tsbuildinfo "$fresh/node_modules"
(cd "$scratch" && npm install --no-audit --no-fund --loglevel=error "$fresh" >/dev/null \
  && node -e "require('@orrery/lexecon')" && node --input-type=module -e "await import('@orrery/lexecon')")
echo "sdks/typescript/lexecon: installs from a path without a prior build"
# From a git URL, as a user installs from a fork: the branch sdks/typescript/git-branches.sh
# makes (the package at the repository root), cloned by npm, built by its prepare script.
if git rev-parse HEAD >/dev/null 2>&1; then
  git clone -q --no-hardlinks "$PWD" "$dist/repo"
  (cd "$dist/repo" && sdks/typescript/git-branches.sh >/dev/null)
  (cd "$scratch" && npm install --no-audit --no-fund --loglevel=error "git+file://$dist/repo#sdk/typescript/lumen" >/dev/null \
    && node -e "require('@orrery/lumen')" && node --input-type=module -e "await import('@orrery/lumen')")
  echo "sdks/typescript/lumen: installs from a git URL (its branch from git-branches.sh)"
fi
