#!/usr/bin/env bash
# CI's second smoke test: plain `wrangler dev` (not `npm run dev`), as a
# Cloudflare user starts any Worker, with the one required secret passed by
# `--var` and nothing else: no .dev.vars, no migrations applied beforehand,
# a fresh state directory. It runs in a temporary copy of the Worker's
# sources (node_modules linked), so a .dev.vars in this checkout cannot
# leak in. Checks a password grant, a client-credentials grant, a non-empty
# JWKS and /v1/authorize. Stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false

port=8788
base="http://localhost:$port"
root_key=hk_local_test_key_0123456789
work=$(mktemp -d)
log=$(mktemp)
cp -r wrangler.toml package.json src drizzle "$work/"
ln -s "$PWD/node_modules" "$work/node_modules"

# Its own session and process group (led by $pid), so stopping it stops wrangler and workerd too.
setsid bash -c 'cd "$1" && exec npx wrangler dev --port "$2" --ip 127.0.0.1 --persist-to state --var "HEIMDALL_ROOT_KEY:$3"' _ "$work" "$port" "$root_key" >"$log" 2>&1 &
pid=$!
stop() {
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}
trap 'stop; rm -rf "$work" "$log"' EXIT

for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "$base/v1/health" 2>/dev/null; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "wrangler dev exited early"; exit 1; fi
  sleep 1
done

# One request: prints the body; fails unless the status is the expected one.
call() {
  local expected=$1 method=$2 path=$3 body=${4:-} auth=${5:-$root_key}
  local out code
  out=$(mktemp)
  local args=(-sS -o "$out" -w '%{http_code}' -X "$method" "$base$path")
  [ -n "$auth" ] && args+=(-H "Authorization: Bearer $auth")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  code=$(curl "${args[@]}")
  if [ "$code" != "$expected" ]; then
    echo "plain wrangler dev: $method $path answered $code, expected $expected:" >&2
    cat "$out" >&2; echo >&2; tail -20 "$log" >&2
    rm -f "$out"; exit 1
  fi
  cat "$out"; rm -f "$out"
}
field() { node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8")); const r=process.argv[1].split(".").reduce((o,k)=>o?.[k],v); if(r===undefined)process.exit(1); console.log(typeof r==="object"?JSON.stringify(r):r)' "$1"; }

call 201 POST /v1/apps '{"name":"smoke-app"}' >/dev/null
call 201 POST /v1/apps/smoke-app/roles '{"name":"editor","permissions":["projects:read"]}' >/dev/null
call 201 POST /v1/apps/smoke-app/users '{"email":"jane@acme.co","password":"correct horse battery staple","role":"editor"}' >/dev/null

token=$(call 200 POST /v1/apps/smoke-app/tokens '{"grant_type":"password","email":"jane@acme.co","password":"correct horse battery staple"}' "" | field access_token)
echo "  password grant: 200"

credential=$(call 201 POST /v1/apps/smoke-app/credentials '{"name":"billing","permissions":["billing:read"]}')
client_id=$(echo "$credential" | field client_id)
client_secret=$(echo "$credential" | field client_secret)
service_token=$(call 200 POST /v1/apps/smoke-app/tokens "{\"grant_type\":\"client_credentials\",\"client_id\":\"$client_id\",\"client_secret\":\"$client_secret\"}" "" | field access_token)
echo "  client_credentials grant: 200"

keys=$(call 200 GET /v1/.well-known/jwks.json "" "" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).keys.length)')
[ "$keys" -ge 1 ] || { echo "plain wrangler dev: the JWKS is empty" >&2; exit 1; }
echo "  JWKS: $keys keys"

allowed=$(call 200 POST /v1/authorize "{\"token\":\"$token\",\"permission\":\"projects:read\"}" "" | field allowed)
[ "$allowed" = "true" ] || { echo "plain wrangler dev: /v1/authorize did not allow the user's token" >&2; exit 1; }
allowed=$(call 200 POST /v1/authorize "{\"token\":\"$service_token\",\"permission\":\"billing:read\"}" "" | field allowed)
[ "$allowed" = "true" ] || { echo "plain wrangler dev: /v1/authorize did not allow the service token" >&2; exit 1; }
echo "  /v1/authorize: allowed"

stop
trap - EXIT
rm -rf "$work" "$log"
echo "== plain wrangler dev with only HEIMDALL_ROOT_KEY: every check passed"
