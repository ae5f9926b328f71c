#!/usr/bin/env bash
# The brain-volumes demonstration (README, "Brain volumes: NIfTI in, component maps out"):
# planted spatial components in 40 subjects' NIfTI volumes, the sweep (component volumes and
# their figures), then NMF beside PCA, VQ and spatial ICA (nnmf-sweep compare).
# Writes configs/volumes/ (the NIfTI files) and configs/results-volumes/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
bin=target/release/nnmf-sweep
"$bin" simulate --volumes configs/volumes --seed 1 --force
"$bin" compare configs/volumes.toml --force
