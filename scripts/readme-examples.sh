#!/usr/bin/env bash
# Runs the README's shell examples in order, verbatim, against a running
# `npm run dev` (CI's smoke test calls it). Every ```sh block is taken except
# the ones that install, build, benchmark or deploy (they hold npm or npx).
# Each request must answer 2xx; the first that does not stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=$(awk '
  /^ *```sh$/ { inside = 1; block = ""; next }
  /^ *```$/   { if (inside && block !~ /(^|\n)[^#\n]*(npm|npx) /) printf "%s", block; inside = 0; next }
  inside      { block = block $0 "\n" }
' README.md)

codes=$(mktemp)
trap 'rm -f "$codes" acme-corp-audit.ndjson' EXIT
export codes

# curl as the README calls it, plus a check of the status each request gets.
curl() {
  command curl -sS -w '%{stderr}%{http_code}' "$@" 2>"$codes" || true
  local code
  code=$(tail -c 3 "$codes")
  echo >&2
  case "$code" in
    2??) echo "  -> $code" >&2 ;;
    *) echo "README example failed (HTTP ${code:-none}): curl $*" >&2; cat "$codes" >&2; exit 1 ;;
  esac
}

eval "$examples"
echo "== every README example answered 2xx"
