#!/usr/bin/env bash
# The whole test suite under the `bundled` build (no system HDF5 or OpenBLAS: HDF5 compiled from
# source, every product and factorization through faer), in its own target folder
# ($BUNDLED_TARGET_DIR, default target-bundled) so that it never replaces the default build's
# files: clippy with -D warnings, then every unit and end-to-end test, then scripts/bundled_check.sh
# (ldd of the bundled binary; the demo against the default binary). Run it after scripts/test.sh
# (which sets up the Python packages the tests use). From scratch on 2 cores `cargo test
# --features bundled --all-targets` alone took 17 minutes (15.5 of them compiling), too long to add
# to scripts/test.sh within CI's 25, which runs only the bundled build and the demo comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
CMAKE=${CMAKE:-$(scripts/setup.sh --bundled)}   # hdf5-metno-src needs cmake >= 3.26
export CMAKE
export CARGO_TARGET_DIR=${BUNDLED_TARGET_DIR:-target-bundled}
cargo clippy --all-targets --quiet --features bundled -- -D warnings
cargo test --all-targets --features bundled
unset CARGO_TARGET_DIR
scripts/bundled_check.sh
