#!/usr/bin/env bash
# Instructions per request of a refill binary, counted by callgrind: CPU cost that a
# loaded machine does not blur (a rate moves with the machine; this does not).
#
#   scripts/instructions-per-request.sh BINARY [DATABASE_URL] [REQUESTS] [PARALLEL]
#
# Starts `BINARY serve` under `valgrind --tool=callgrind` on a fresh database (SQLite
# in a temporary directory, or a fresh database made on the PostgreSQL server of
# DATABASE_URL), funds one account through the API, then for each kind of request
# (a debit without a key, a debit with a key of its own, a read of the account)
# sends REQUESTS/4 to warm up, zeroes the counters, sends REQUESTS with curl
# (PARALLEL connections at once, 1 by default: batches of one debit) and prints the
# whole process's instructions divided by REQUESTS.
set -euo pipefail
bin=$(realpath "$1")
url=${2:-sqlite}
n=${3:-2000}
parallel=${4:-1}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
key=rk_callgrind
api=http://127.0.0.1:$port/v1
pgdb=""
case "$url" in
  postgres*)
    pgdb=refill_callgrind_$$
    psql -q "$url" -c "CREATE DATABASE $pgdb"
    db_url="${url%/*}/$pgdb";;
  *) db_url="sqlite://$dir/refill.db";;
esac
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$pgdb" ] && psql -q "$url" -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" || true
  rm -rf "$dir"
}
REFILL_LISTEN=127.0.0.1:$port REFILL_DATABASE_URL=$db_url REFILL_BOOTSTRAP_KEY=$key \
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
  "$bin" serve >"$dir/serve.log" 2>&1 &
pid=$!
trap cleanup EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 1
done
post() { curl -sf -X POST "$api$1" -H "Authorization: Bearer $key" -H "Content-Type: application/json" -d "$2"; }
acct=$(post /accounts '{"name":"hot","currency":"GBP"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
pm=$(post "/accounts/$acct/payment-methods" '{"token":"pm_card_visa"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
post "/accounts/$acct/top-ups" "{\"amount\":100000000000000,\"payment_method\":\"$pm\"}" >/dev/null

# A curl config of $2 requests of kind $1; keys are unique per run and request.
requests() {
  for i in $(seq 1 "$2"); do
    [ "$i" -gt 1 ] && echo next
    case "$1" in
      read) echo "url = \"$api/accounts/$acct\"";;
      *) echo "url = \"$api/accounts/$acct/debits\""
         echo 'data = "{\"amount\":1}"'
         echo 'header = "Content-Type: application/json"';;
    esac
    [ "$1" = keyed ] && echo "header = \"Idempotency-Key: $3-$i\""
    echo "header = \"Authorization: Bearer $key\""
    echo 'output = "/dev/null"'
    echo 'write-out = "%{http_code}\n"'
  done
}
send() {
  curl -s --no-progress-meter --parallel --parallel-max "$parallel" -K "$1" | sort | uniq -c | tr '\n' ' '
}
for kind in unkeyed keyed read; do
  requests "$kind" $((n / 4)) "warm" >"$dir/warm"
  requests "$kind" "$n" "run" >"$dir/run"
  send "$dir/warm" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  codes=$(send "$dir/run")
  callgrind_control -d "$pid" >/dev/null 2>&1
  dump=$(ls -t "$dir"/callgrind.out.* | head -1)
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  echo "$kind: $((total / n)) instructions per request ($n requests, $parallel at once; status counts: $codes)"
  rm -f "$dir"/callgrind.out.*
done
