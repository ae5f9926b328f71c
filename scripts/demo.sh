#!/usr/bin/env bash
# The demo: installs what is missing, builds nnmf-sweep, writes a planted rank-4 Poisson count
# matrix (300 x 200) to configs/demo.h5 and sweeps it with configs/demo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
bin=target/release/nnmf-sweep
[[ -f configs/demo.h5 ]] || "$bin" simulate --out configs/demo.h5 --rows 300 --cols 200 --rank 4 --seed 1
"$bin" configs/demo.toml --force "$@"
