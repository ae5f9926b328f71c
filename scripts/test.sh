#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh --test), then formatting,
# lints, the module import graph (no cycle), every unit and end-to-end test (the benchmarks built
# and run once in test mode), the Python package's tests (scripts/test_python.sh: wheel built from
# this checkout, pytest in a fresh venv), the SIGKILL/resume loop (scripts/kill_resume.sh, 20
# trials), the bundled build (scripts/bundled_check.sh: its ldd shows no HDF5/BLAS/LAPACK library,
# and the demo gives the default build's chosen rank and best KL per rank within 1e-9 relative; the
# whole suite under it is scripts/test_bundled.sh, 17 minutes more), and the Slurm test
# (scripts/slurm/test_slurm.sh) on a throw-away single-node Slurm started here with
# scripts/slurm/local-slurm.sh (as root; it installs Debian's slurm-wlm and munge when missing) and
# stopped on exit. NNMF_TEST_SLURM_DIR: its directory (default /tmp/nnmf-slurm); NNMF_SLURM_PORT:
# its slurmctld port (default: a free one). Each step prints its time.
set -euo pipefail
cd "$(dirname "$0")/.."
# Runs one step and prints how long it took (CI's budget is 25 minutes).
step() {
    local start=$SECONDS
    "$@"
    echo "test.sh: $* took $((SECONDS - start)) s" >&2
}
step scripts/setup.sh --test
step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets --quiet -- -D warnings   # the library, the binary and the Python extension
step python3 scripts/import_graph.py > /dev/null   # the module layers point one way (exit 1 names a cycle)
# Every target: unit and end-to-end tests, the examples, and the benchmarks (built, and run once
# in test mode; `cargo bench` runs them for their figures).
step cargo test --all-targets
step scripts/test_python.sh   # the Python package: its wheel built from this checkout, pytest in a fresh venv
step scripts/kill_resume.sh 20
# The command line test_python.sh built (the wheel's profile and features) against the bundled
# build in the same profile, which reuses those compiled dependencies (only HDF5 and the crates
# above it are built again).
step env BUNDLED_TARGET_DIR=target BUNDLED_CHECK_PROFILE=wheel scripts/bundled_check.sh
slurm_dir=${NNMF_TEST_SLURM_DIR:-/tmp/nnmf-slurm}
trap 'scripts/slurm/local-slurm.sh stop "$slurm_dir" || true' EXIT
env_sh=$(scripts/slurm/local-slurm.sh start "$slurm_dir")
eval "$env_sh"
step scripts/slurm/test_slurm.sh
echo "test.sh: all passed in $SECONDS s" >&2
