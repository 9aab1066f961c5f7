#!/usr/bin/env bash
# Installs what is missing (the same packages as serve.sh, plus test and benchmark tools) and
# runs the whole test suite: formatting, lints, unit tests, brief fuzzing of the parsers, tests
# against real X servers, the benchmark once in its short mode, the official MCP conformance
# suite, and end-to-end tests over MCP with the official Python SDK as an independent client.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
install_packages "${RUNTIME_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${BENCH_PACKAGES[@]}"
ensure_rust
ensure_web
cd "$AGENTDESK_ROOT"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --workspace
# Every parser of agent, network and package input, under libFuzzer for 20 s each.
echo "== fuzz (20 s per target)"
scripts/fuzz.sh 20

cargo build --locked --bin agentdesk
# Proves the benchmark works (speed belongs in the benchmark, not in test assertions): it fails
# if any tool call fails or the report is incomplete.
echo "== bench (quick)"
target/debug/agentdesk bench --quick --json target/bench-quick.json

echo "== MCP conformance suite"
tests/conformance/run.sh "$AGENTDESK_ROOT/target/debug/agentdesk"

echo "== end to end over MCP (Python SDK)"
VENV="$AGENTDESK_ROOT/target/e2e-venv"
# Installed again whenever requirements.txt changes (the stamp keeps a copy of it).
if [ ! -x "$VENV/bin/pytest" ] || ! cmp -s tests/e2e/requirements.txt "$VENV/requirements.stamp"; then
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r tests/e2e/requirements.txt
  cp tests/e2e/requirements.txt "$VENV/requirements.stamp"
fi
# Other official clients, for the tests that must hold for every one of them (a rate-limited
# burst must not end a session): the Python SDK 1.x in a venv of its own, and the TypeScript
# SDKs (1.x and 2.x) from npm, pinned in tests/e2e/clients.
VENV_MCP1="$AGENTDESK_ROOT/target/e2e-venv-mcp1"
if [ ! -x "$VENV_MCP1/bin/python" ] || ! cmp -s tests/e2e/clients/requirements-mcp1.txt "$VENV_MCP1/requirements.stamp"; then
  [ -x "$VENV_MCP1/bin/pip" ] || python3 -m venv "$VENV_MCP1"
  "$VENV_MCP1/bin/pip" install -q -r tests/e2e/clients/requirements-mcp1.txt
  cp tests/e2e/clients/requirements-mcp1.txt "$VENV_MCP1/requirements.stamp"
fi
CLIENTS="$AGENTDESK_ROOT/tests/e2e/clients"
if [ ! -d "$CLIENTS/node_modules/@modelcontextprotocol/sdk" ] || ! cmp -s "$CLIENTS/package-lock.json" "$CLIENTS/node_modules/.agentdesk-lock"; then
  (cd "$CLIENTS" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$CLIENTS/package-lock.json" "$CLIENTS/node_modules/.agentdesk-lock"
fi
AGENTDESK_BIN="$AGENTDESK_ROOT/target/debug/agentdesk" AGENTDESK_MCP1_PYTHON="$VENV_MCP1/bin/python" \
  "$VENV/bin/pytest" -q tests/e2e
