#!/usr/bin/env bash
# Property-based checks of the live server against its own contracts: schemathesis
# (`--checks all`, bounded examples) over every dialect's OpenAPI document and over the
# GraphQL endpoint, authenticated as an administrator (so every operation is reachable).
# Any server error or schema violation fails the run.
#
#   tests/schemathesis.sh [max-examples]      (default 25 per operation)
#
# Uses the debug binary `cargo test` already built (builds it when missing) and a venv under
# target/ (or $ORRERY_ST_VENV) with a pinned schemathesis.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-25}"
venv="${ORRERY_ST_VENV:-$PWD/target/schemathesis-venv}"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
cargo build -q -p orrery-api --bin orrery

data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# Rate limits out of the way: this run measures contracts, not quotas (those have their tests).
# The terminal on (in its sandbox, 5 s a command): runCommand is fuzzed for real; so are
# the LUKHAS dreams and GLYPHs, switched on by their documented flags.
ORRERY_RATE_LIMIT__FREE=100000000 ORRERY_RATE_LIMIT__PRO=100000000 \
ORRERY_RATE_LIMIT__TEAM=100000000 ORRERY_RATE_LIMIT__ANONYMOUS=100000000 \
ORRERY_RATE_LIMIT__CREDENTIALS_PER_IP=100000000 ORRERY_RATE_LIMIT__MATRIZ=100000000 ORRERY_RATE_LIMIT__REASONING=100000000 ORRERY_RATE_LIMIT__DREAMS=100000000 \
LUKHAS_DREAMS_ENABLED=1 LUKHAS_PARALLEL_DREAMS=1 LUKHAS_GLYPHS_ENABLED=1 \
ORRERY_ADMIN_EMAIL=fuzz-admin@example.com ORRERY_ADMIN_PASSWORD='fuzz admin password' \
ORRERY_TERMINAL__ENABLED=true ORRERY_TERMINAL__TIMEOUT_SECS=5 \
RUST_LOG=warn \
  target/debug/orrery --data-dir "$data" serve --bind "127.0.0.1:$port" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  curl -sf "$base/readyz" >/dev/null && break
  sleep 0.2
done

token="$(curl -sf -X POST "$base/lunaos/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"fuzz-admin@example.com","password":"fuzz admin password"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["token"])')"
# An API key as the credential: schemathesis may call logout/refresh, which must not cut
# the rest of the run off. (It could still revoke this key by id; it cannot guess it.)
# Every scope, so the administrator's operations are reachable through it too.
scopes='["account:read","account:write","governance:decide","governance:read","governance:review","admin","terminal:execute","models:use","memory:read","memory:write","rag:read","rag:write","agents:run","chat","registry","glyphs","incidents","feedback"]'
key="$(curl -sf -X POST "$base/lunaos/api-keys" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d "{\"name\":\"schemathesis\",\"scopes\":$scopes}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["key"])')"

# NUL (U+0000) is refused in every string on every database (docs/DECISIONS.md), which a
# JSON Schema `string` cannot say without a pattern on every field.
common=(--max-examples "$examples" --seed 20261201 --no-color --generation-database none
  --generation-allow-x00 false --request-timeout 20 --suppress-health-check all
  -H "Authorization: Bearer $key")
status=0
for doc in schema/openapi/*.json; do
  prefix="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("servers", [{"url": ""}])[0]["url"])' "$doc")"
  echo "== schemathesis: $doc ($prefix)"
  if "$venv/bin/st" --config-file tests/schemathesis.toml run "$doc" --url "$base$prefix" "${common[@]}"; then
    echo "schemathesis run $doc: passed"
  else
    echo "schemathesis run $doc: failed"
    status=1
  fi
done
# Every check here too, from the config file: a `--checks` option would override its
# per-operation settings.
echo "== schemathesis: GraphQL"
if PYTHONPATH="$PWD/tests" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  "$venv/bin/st" --config-file tests/schemathesis.toml run "$base/graphql" "${common[@]}"; then
  echo "schemathesis run /graphql: passed"
else
  echo "schemathesis run /graphql: failed"
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "-- server log (last 40 lines)"
  tail -40 "$data/server.log"
fi
exit "$status"
