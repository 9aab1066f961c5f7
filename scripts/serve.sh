#!/usr/bin/env bash
# Installs what is missing, builds agentdesk, and serves a desktop over MCP at
# http://127.0.0.1:3000/mcp, with its live view at http://127.0.0.1:3000/ (extra arguments go to
# `agentdesk serve`; see --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
install_packages "${RUNTIME_PACKAGES[@]}"
ensure_rust
ensure_web
cd "$AGENTDESK_ROOT"
cargo build --release --locked --bin agentdesk >&2
exec ./target/release/agentdesk serve "$@"
