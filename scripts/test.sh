#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh --test), then formatting,
# lints, the module import graph (no cycle), every unit and end-to-end test, the Python package's
# tests (scripts/test_python.sh: wheel built from this checkout, pytest in a fresh venv), a build of
# the benchmarks, the SIGKILL/resume loop (scripts/kill_resume.sh, 20 trials), the bundled build
# (scripts/bundled_check.sh: built in target-bundled/, its ldd shows no HDF5/BLAS/LAPACK library,
# and the demo gives the default build's chosen rank and best KL per rank within 1e-9 relative; the
# whole suite under it is scripts/test_bundled.sh, 17 minutes more), and the Slurm test
# (scripts/slurm/test_slurm.sh) on a
# throw-away single-node Slurm started here with scripts/slurm/local-slurm.sh (as root; it
# installs Debian's slurm-wlm and munge when missing) and stopped on exit. NNMF_TEST_SLURM_DIR: its
# directory (default /tmp/nnmf-slurm); NNMF_SLURM_PORT: its slurmctld port (default: a free one).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings   # the library, the binary and the Python extension
python3 scripts/import_graph.py > /dev/null   # the module layers point one way (exit 1 names a cycle)
cargo test --all-targets
scripts/test_python.sh   # the Python package: its wheel built from this checkout, pytest in a fresh venv
cargo bench --no-run --quiet
scripts/kill_resume.sh 20
# The release binary (test_python.sh built it) against the bundled release build, which reuses
# target/release's compiled dependencies (only HDF5 and the crates above it are built again).
BUNDLED_TARGET_DIR=target scripts/bundled_check.sh
slurm_dir=${NNMF_TEST_SLURM_DIR:-/tmp/nnmf-slurm}
trap 'scripts/slurm/local-slurm.sh stop "$slurm_dir" || true' EXIT
env_sh=$(scripts/slurm/local-slurm.sh start "$slurm_dir")
eval "$env_sh"
scripts/slurm/test_slurm.sh
