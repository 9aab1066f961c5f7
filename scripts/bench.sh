#!/usr/bin/env bash
# Installs what is missing (the runtime packages, plus scrot, webp, xdotool and xclip for the
# conventional comparison), builds agentdesk in release mode and runs `agentdesk bench`
# (extra arguments go to it: --quick, -n N, --json PATH, --screen WxH). See docs/performance.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
install_packages "${RUNTIME_PACKAGES[@]}" "${BENCH_PACKAGES[@]}"
ensure_rust
cd "$AGENTDESK_ROOT"
cargo build --release --locked --bin agentdesk >&2
exec ./target/release/agentdesk bench "$@"
