#!/usr/bin/env bash
# Installs what agentdesk needs on Debian 12 (as root, or with sudo), then builds it.
# Sourced by scripts/serve.sh and scripts/test.sh; safe to run again: it installs only what is
# missing and runs `apt-get update` at most once.
set -euo pipefail

# Runtime: the X server (Xvnc, with Xvfb as the fallback), the window manager, the session bus,
# bubblewrap (each desktop's sandbox) and the apps GhostDesk's image ships (Firefox ESR, a
# terminal, a text editor, a calculator), and Tesseract with its English model for the text
# tools (screen_find_text, screen_read_text; loaded at run time, so not needed to build).
RUNTIME_PACKAGES=(
  bubblewrap tigervnc-standalone-server xvfb icewm dbus dbus-x11 x11-utils
  xterm mousepad galculator firefox-esr fonts-dejavu-core fonts-noto-cjk
  tesseract-ocr tesseract-ocr-eng
)
# Tests only: independent X clients to check our work against, Python for the MCP client,
# openssl to make the certificate of the TLS test, and Chromium for the live view's browser test
# (driven by Playwright from PyPI, with this system Chromium: no browser download).
TEST_PACKAGES=(xdotool xclip x11-xserver-utils procps python3 python3-venv ca-certificates openssl chromium xdg-utils)
# `agentdesk bench`: the conventional way it compares against, a process per action (scrot and
# cwebp per screenshot, xdotool per click, text and key, xclip per clipboard operation).
BENCH_PACKAGES=(scrot webp xdotool xclip)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "agentdesk setup: installing ${missing[*]}" >&2
  if [ -z "${AGENTDESK_APT_UPDATED:-}" ]; then
    as_root apt-get update -qq
    export AGENTDESK_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_rust() {
  if command -v cargo >/dev/null 2>&1; then return 0; fi
  [ -x "$HOME/.cargo/bin/cargo" ] && { export PATH="$HOME/.cargo/bin:$PATH"; return 0; }
  echo "agentdesk setup: cargo not found; installing Rust with rustup (needs Rust >= 1.88)" >&2
  install_packages curl ca-certificates gcc libc6-dev
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >&2
  export PATH="$HOME/.cargo/bin:$PATH"
}

ensure_npm() {
  # Only when there is no npm at all: Debian's npm package would conflict with a Node.js
  # installed from elsewhere. The conformance suite brings its own Node 22 from npm.
  command -v npm >/dev/null 2>&1 || install_packages npm
}

# The live view's front end: noVNC, pinned in web/package-lock.json, installed with `npm ci`
# into web/node_modules (again whenever the lock file changes) and served by agentdesk as is.
ensure_web() {
  ensure_npm
  local web="$AGENTDESK_ROOT/web" stamp="$AGENTDESK_ROOT/web/node_modules/.agentdesk-lock"
  if [ ! -f "$web/node_modules/@novnc/novnc/core/rfb.js" ] || ! cmp -s "$web/package-lock.json" "$stamp"; then
    echo "agentdesk setup: installing noVNC (npm ci in web/)" >&2
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$web/package-lock.json" "$stamp"
  fi
  export AGENTDESK_NOVNC_DIR="${AGENTDESK_NOVNC_DIR:-$web/node_modules/@novnc/novnc}"
}

AGENTDESK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AGENTDESK_ROOT
