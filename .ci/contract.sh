#!/usr/bin/env bash
# The API contract, checked against a real `refill serve` on SQLite and on PostgreSQL:
# schemathesis with response-schema conformance on every operation (any 5xx, schema
# mismatch, undeclared status or content type fails), then the README's walk-through
# through a Python client generated from openapi.json at this run (not committed).
# Python tools: a venv at target/ci-venv from .ci/requirements-contract.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
venv=target/ci-venv
if ! cmp -s .ci/requirements-contract.txt "$venv/requirements-contract.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r .ci/requirements-contract.txt
  cp .ci/requirements-contract.txt "$venv/requirements-contract.txt"
fi
export PATH="$PWD/$venv/bin:$PATH"
cargo build --quiet -p refill --bin refill
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

openapi-python-client generate --path openapi.json --output-path "$work/refill_client" \
  --meta none > "$work/generate.log" 2>&1 || { cat "$work/generate.log"; exit 1; }
if grep -q "Unable to\|Cannot parse" "$work/generate.log"; then
  cat "$work/generate.log"; echo "contract: the client generator skipped part of openapi.json"; exit 1
fi

# Examples per operation and phase; the whole run stays within a few minutes per store.
examples=${REFILL_CONTRACT_EXAMPLES:-20}

check_store() {
  local name=$1 url=$2 port key
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  key="rk_op_contract$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  REFILL_LISTEN="127.0.0.1:$port" REFILL_DATABASE_URL="$url" REFILL_BOOTSTRAP_KEY="$key" \
    REFILL_SANDBOX_RECORD="$work/$name-sandbox.jsonl" \
    "$target/debug/refill" serve > "$work/$name-serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
    sleep 0.5
  done
  local base="http://127.0.0.1:$port"
  python .ci/contract/seed.py "$base" "$key" "$work/$name.toml"
  local started=$SECONDS status=0
  schemathesis --config-file "$work/$name.toml" run openapi.json --url "$base" \
    -H "Authorization: Bearer $key" --no-color --seed 21 --max-examples "$examples" \
    --phases examples,coverage,fuzzing \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    > "$work/$name-schemathesis.log" 2>&1 || status=$?
  local cases
  cases=$(grep -Eo '[0-9]+ generated' "$work/$name-schemathesis.log" | grep -Eo '[0-9]+' || echo 0)
  local ops
  ops=$(grep -Eo 'Tested: [0-9]+' "$work/$name-schemathesis.log" | grep -Eo '[0-9]+' || echo 0)
  if [ "$status" -ne 0 ]; then
    cat "$work/$name-schemathesis.log"; tail -50 "$work/$name-serve.log"
    echo "contract: $name: schemathesis failed"; return 1
  fi
  echo "contract: $name: schemathesis: $ops operations, $cases test cases, 0 failures in $((SECONDS - started)) s"
  PYTHONPATH="$work" python .ci/contract/walkthrough.py "$base" "$key" || {
    tail -50 "$work/$name-serve.log"; echo "contract: $name: the generated client's walk-through failed"; return 1; }
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

check_store sqlite "sqlite://$work/contract.db"
pg=${REFILL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PGOPTIONS=--client-min-messages=warning psql "$pg" -qc "DROP DATABASE IF EXISTS refill_contract" -c "CREATE DATABASE refill_contract" > /dev/null
check_store postgres "${pg%/*}/refill_contract"
psql "$pg" -qc "DROP DATABASE IF EXISTS refill_contract" > /dev/null
