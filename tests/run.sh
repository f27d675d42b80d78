#!/usr/bin/env bash
# The whole test suite: Rust unit + end-to-end tests (which include the SDK contract suites
# against a real server), the SDK freshness check, and the SDKs' own checks (type checks,
# runtime unit tests). Needs a Rust toolchain, python3 and node ≥ 18.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=tests/sdk-env.sh
source tests/sdk-env.sh

echo "== cargo test (Rust unit + end-to-end + SDK contract suites)"
cargo test --workspace

echo "== Python SDKs: mypy --strict"
for package in sdks/python/*/src/*/; do
  (cd "$(dirname "$package")" && "$ORRERY_TEST_SDK_PYTHON" -m mypy --strict --no-incremental -p "$(basename "$package")")
done

echo "== Python SDKs: runtime unit tests"
(cd sdks/python && "$ORRERY_TEST_SDK_PYTHON" -m pytest tests/unit -q -p no:cacheprovider)

echo "== TypeScript SDKs: runtime unit tests (built with tsc --strict above)"
(cd sdks/typescript && node --test --test-reporter=tap tests/unit/runtime.test.mjs)
