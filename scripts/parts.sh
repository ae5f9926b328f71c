#!/usr/bin/env bash
# The parts demonstration: Hoyer's bars images, then NMF beside PCA, VQ and ICA (nnmf-sweep compare).
# Writes configs/parts.h5 and configs/results-parts/ (compare.png, compare.tsv, components_rank_16.png).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
bin=target/release/nnmf-sweep
"$bin" simulate --bars 8 --rows 500 --seed 1 --out configs/parts.h5 --force
"$bin" compare configs/parts.toml --force
