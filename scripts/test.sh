#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh --test), then formatting,
# lints, every unit and end-to-end test, and a build of the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
cargo bench --no-run --quiet
