#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (the parsers of agent and package input) for a short time each,
# one per core, and fails if any of them finds a crash, a panic, a broken invariant or a hang.
#
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 20)
#
# Installs cargo-fuzz (pinned) into target/tools when missing, so CI reuses it. Findings are
# written to fuzz/artifacts/<target>/; reproduce one with
#   RUSTC_BOOTSTRAP=1 target/tools/bin/cargo-fuzz run --debug-assertions <target> <file>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_rust
# libfuzzer-sys compiles libFuzzer itself, which is C++.
install_packages g++
cd "$AGENTDESK_ROOT"

SECONDS_PER_TARGET="${1:-20}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2
  exit 2
fi

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$AGENTDESK_ROOT/target/tools"
if [ "$("$TOOLS/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
  cargo install --quiet --locked --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH"

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, sanitizer-coverage options) to
# rustc. We have one toolchain, the stable one, and CI cannot fetch a nightly: RUSTC_BOOTSTRAP=1
# lets stable accept them. The address sanitizer works this way because its runtime ships with
# stable's standard library; it matters little for our own code (unsafe_code is denied) but
# checks the unsafe code of the dependencies the parsers call (serde_json, shlex, ...).
export RUSTC_BOOTSTRAP=1
# Debug assertions on, like overflow checks (fuzz/Cargo.toml): a failing one is a finding.
FUZZ_FLAGS=(--debug-assertions)

# cargo-fuzz has no --locked: check fuzz/Cargo.lock is current before it could be rewritten.
cargo fetch --locked --quiet --manifest-path fuzz/Cargo.toml

echo "== cargo fuzz build ($(rustc --version))"
start=$SECONDS
cargo fuzz build "${FUZZ_FLAGS[@]}"
echo "build took $((SECONDS - start)) s"

LOGS="$AGENTDESK_ROOT/target/fuzz-logs"
mkdir -p "$LOGS"

# Fuzzes one target; its output goes to $LOGS/<target>.log, and its exit status says whether
# it found something.
fuzz_target() {
  local target=$1
  # fuzz/corpus/<target> (not committed) keeps what this machine found for the next run;
  # fuzz/seeds/<target> (committed) holds realistic inputs to start from.
  mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
  # -timeout: an input that takes 10 s is a hang, a finding like a crash.
  cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 >"$LOGS/$target.log" 2>&1
}

# libFuzzer uses one core, so targets run side by side, one per core.
JOBS=$(nproc)
mapfile -t TARGETS < <(cargo fuzz list)
[ ${#TARGETS[@]} -gt 0 ] || { echo "cargo fuzz list found no targets" >&2; exit 1; }
echo "== fuzzing ${TARGETS[*]}: ${SECONDS_PER_TARGET} s each, $JOBS at a time"
start=$SECONDS
declare -A pids=()
for target in "${TARGETS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  fuzz_target "$target" &
  pids[$target]=$!
done
failed=()
for target in "${TARGETS[@]}"; do
  if wait "${pids[$target]}"; then
    echo "$target: $(grep -E '^Done [0-9]+ runs' "$LOGS/$target.log" || echo finished)"
  else
    echo "!! $target FAILED; what it found, then the end of $LOGS/$target.log:" >&2
    grep -m 5 -A 2 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$LOGS/$target.log" >&2 || true
    tail -n 25 "$LOGS/$target.log" >&2
    failed+=("$target")
  fi
done
echo "fuzzing took $((SECONDS - start)) s"

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets that found a problem: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "all fuzz targets ran clean"
