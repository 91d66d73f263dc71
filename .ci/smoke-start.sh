#!/usr/bin/env bash
# Starts the server exactly as the README says (npm start, no DATABASE_URL, fresh data folder),
# pastes the printed demo command, and checks that a completion came back.
set -euo pipefail
data=$(mktemp -d)
log=$(mktemp)
port=$((20000 + RANDOM % 20000))
env -u DATABASE_URL -u REDIS_URL TOLLGATE_DATA_DIR="$data" PORT="$port" npm start >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data" "$log"; }
trap cleanup EXIT
for _ in $(seq 1 120); do
  grep -q 'Tollgate is listening' "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 1
done
key=$(grep -o 'TG_KEY=tg_[A-Za-z0-9_-]*' "$log" | head -1 | cut -d= -f2)
[ -n "$key" ] || { echo "no demo key printed"; cat "$log"; exit 1; }
out=$(curl -s "http://127.0.0.1:$port/graphql" -H "authorization: Bearer $key" -H 'content-type: application/json' \
  -d '{"query":"mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) { content model cost } }","variables":{"input":{"messages":[{"role":"user","content":"Hello, Tollgate!"}]}}}')
echo "$out"
echo "$out" | grep -q '"cost":"0\.' || { echo "smoke: no completion"; cat "$log"; exit 1; }
# SIGTERM the server itself (npm start runs it under npm and sh); npm then exits with its code.
server=$(pgrep -n -f 'node dist/src/main.js')
kill -TERM "$server"
wait "$pid" || { echo "smoke: unclean shutdown"; cat "$log"; exit 1; }
grep -q 'shutting down' "$log" || { echo "smoke: no graceful shutdown"; cat "$log"; exit 1; }
trap - EXIT
rm -rf "$data" "$log"
echo "smoke: 1 passed, 0 failed"
