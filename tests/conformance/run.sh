#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, pinned) against a
# real agentdesk server — the scenarios that apply to a product server (no fixture tools) — and
# MCP Inspector's --strict schema-portability lint of the tool list, in both protocol eras.
# Usage: tests/conformance/run.sh PATH-TO-AGENTDESK-BINARY
set -euo pipefail
BIN="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$HERE/../../target/conformance"
mkdir -p "$WORK"
cd "$WORK"
# The suite needs Node >= 22; the machine's may be older, so a pinned Node comes from npm too.
if [ ! -x node_modules/.bin/conformance ] || [ ! -x node_modules/.bin/node ] \
  || [ ! -x node_modules/.bin/mcp-inspector ]; then
  [ -f package.json ] || npm init -y >/dev/null
  npm install --silent --no-audit --no-fund node@22.23.3 \
    @modelcontextprotocol/conformance@0.2.0-alpha.12 @modelcontextprotocol/inspector@2.12.0
fi
export PATH="$WORK/node_modules/.bin:$PATH"

DATA="$(mktemp -d)"
LOG="$DATA/server.log"
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" 2>"$LOG" &
SERVER=$!
cleanup() {
  kill -TERM "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
URL=""
for _ in $(seq 1 200); do
  URL="$(sed -n 's/^agentdesk: serving MCP at \(http[^ ]*\)$/\1/p' "$LOG")"
  [ -n "$URL" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$LOG" >&2; echo "agentdesk exited before serving" >&2; exit 1; }
  sleep 0.05
done
[ -n "$URL" ] || { cat "$LOG" >&2; echo "agentdesk did not start serving" >&2; exit 1; }

SCENARIOS=(
  server-initialize ping tools-list dns-rebinding-protection server-stateless
  http-header-validation caching sep-2164-resource-not-found
)
failed=0
for scenario in "${SCENARIOS[@]}"; do
  if out="$(conformance server --url "$URL" --scenario "$scenario" --expected-failures "$HERE/baseline.yml" 2>&1)"; then
    echo "conformance $scenario: $(grep -E '^Passed:' <<<"$out" | tail -1)"
  else
    echo "conformance $scenario: FAILED" >&2
    echo "$out" | grep -vE 'SUCCESS' >&2
    failed=1
  fi
done
# Inspector keeps state in the home directory; give it one of its own.
export HOME="$WORK/home" MCP_CATALOG_PATH="$WORK/home/catalog.json" MCP_CLIENT_CONFIG_PATH="$WORK/home/clients.json"
mkdir -p "$HOME"
for era in legacy modern; do
  # --strict exits non-zero on errors and prints warnings on stderr; both fail the run.
  if lint="$(mcp-inspector --cli --protocol-era "$era" "$URL" --method tools/list --strict 2>&1 >/dev/null)" \
    && [ -z "$lint" ]; then
    echo "inspector --strict ($era): tool schemas clean"
  else
    echo "inspector --strict ($era): FAILED" >&2
    echo "$lint" >&2
    failed=1
  fi
done
exit "$failed"
