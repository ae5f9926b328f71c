#!/usr/bin/env bash
# The bundled build against the default one (README, "On a cluster without root"):
#   1. builds both binaries in profile $BUNDLED_CHECK_PROFILE (default release; default binary in
#      target/<profile>, bundled in $BUNDLED_TARGET_DIR,
#      default target-bundled), unless --no-build, and copies them into $CHECK_DIR. With
#      BUNDLED_TARGET_DIR=target (what scripts/test.sh does) the bundled build reuses the default
#      build's compiled dependencies (only HDF5 and the crates above it are built again), and the
#      default binary is put back in target/<profile> afterwards;
#   2. checks that the bundled binary links no HDF5, OpenBLAS, BLAS or LAPACK library (ldd);
#   3. runs the demo sweep (configs/demo.toml on configs/demo.h5, written by `simulate` as in
#      scripts/demo.sh when missing) with each binary into its own output folder under
#      $CHECK_DIR (default target-bundled/demo-check) and compares them: the same chosen rank, and
#      the best KL of every rank within 1e-9 relative. Prints the figures; exits 1 when not met.
# Usage: scripts/bundled_check.sh [--no-build]
#        scripts/bundled_check.sh --compare DIR_A DIR_B    (step 3's comparison of two results)
# DEFAULT_BIN / BUNDLED_BIN name other binaries (then nothing is built for that one).
set -euo pipefail
cd "$(dirname "$0")/.."

tolerance=1e-9

# Compares the summary.tsv of two sweep output folders; prints one line per rank.
compare() {
    local a=$1/summary.tsv b=$2/summary.tsv
    [[ -f $a && -f $b ]] || { echo "bundled_check: missing $a or $b" >&2; return 1; }
    awk -F '\t' -v tol="$tolerance" -v na="$1" -v nb="$2" '
        function col(name,   i) { for (i = 1; i <= NF; i++) if ($i == name) return i; return 0 }
        function abs(v) { return v < 0 ? -v : v }
        FNR == 1 { r = col("rank"); k = col("kl"); c = col("chosen"); it = col("iterations"); next }
        FILENAME == ARGV[1] { kla[$r] = $k; ita[$r] = $it; if ($c == "yes") cha = $r; ranks[++n] = $r; next }
        { klb[$r] = $k; itb[$r] = $it; if ($c == "yes") chb = $r }
        END {
            bad = 0
            printf "%-5s %-24s %-24s %-10s %s\n", "rank", "best kl (A)", "best kl (B)", "rel diff", "iterations A/B"
            for (i = 1; i <= n; i++) {
                q = ranks[i]
                if (!(q in klb)) { printf "%-5s missing in B\n", q; bad = 1; continue }
                d = abs(kla[q] - klb[q]) / (abs(kla[q]) > 0 ? abs(kla[q]) : 1)
                flag = d <= tol ? "" : "  > " tol
                if (d > tol) bad = 1
                printf "%-5s %-24.17g %-24.17g %-10.3g %s/%s%s\n", q, kla[q], klb[q], d, ita[q], itb[q], flag
            }
            printf "chosen rank: A %s, B %s%s\n", cha, chb, cha == chb ? "" : "  (differ)"
            if (cha != chb || cha == "") bad = 1
            printf "A = %s\nB = %s\n", na, nb
            print bad ? "bundled_check: NOT met" : "bundled_check: met (same chosen rank, best KL within " tol " relative)"
            exit bad
        }' "$a" "$b"
}

if [[ ${1:-} == --compare ]]; then
    [[ $# == 3 ]] || { echo "usage: $0 --compare DIR_A DIR_B" >&2; exit 2; }
    compare "$2" "$3"
    exit
fi

build=1
[[ ${1:-} == --no-build ]] && build=0
bundled_target=${BUNDLED_TARGET_DIR:-target-bundled}
profile=${BUNDLED_CHECK_PROFILE:-release}   # scripts/test.sh: "wheel", the Python wheel's
default_bin=${DEFAULT_BIN:-target/$profile/nnmf-sweep}
bundled_bin=${BUNDLED_BIN:-$bundled_target/$profile/nnmf-sweep}
check_dir=${CHECK_DIR:-$bundled_target/demo-check}
mkdir -p "$check_dir"
if ((build)); then
    # Both packages named: the Python extension's feature set, so that the builds share the
    # compiled dependencies of scripts/test_python.sh's wheel and command line.
    cargo_build=(cargo build --profile "$profile" --quiet -p nnmf-sweep -p nnmf-sweep-python --bin nnmf-sweep)
    [[ -n ${DEFAULT_BIN:-} ]] || "${cargo_build[@]}"
    cp "$default_bin" "$check_dir/nnmf-sweep-default"
    default_bin=$check_dir/nnmf-sweep-default
    if [[ -z ${BUNDLED_BIN:-} ]]; then
        # hdf5-metno-src needs cmake >= 3.26 (installed with pip --user when missing).
        CMAKE=${CMAKE:-$(scripts/setup.sh --bundled)}
        export CMAKE
        start=$SECONDS
        CARGO_TARGET_DIR=$bundled_target "${cargo_build[@]}" --features nnmf-sweep/bundled
        echo "bundled_check: bundled build took $((SECONDS - start)) s"
        cp "$bundled_bin" "$check_dir/nnmf-sweep-bundled"
        bundled_bin=$check_dir/nnmf-sweep-bundled
        # One target folder for both: put the default binary back (nothing is compiled again).
        [[ $bundled_target != target ]] || "${cargo_build[@]}"
    fi
fi

echo "bundled_check: ldd $bundled_bin"
ldd "$bundled_bin" | sed 's/^/  /'
if ldd "$bundled_bin" | grep -Ei 'libhdf5|openblas|libblas|liblapack|libgfortran'; then
    echo "bundled_check: the bundled binary links a system HDF5/BLAS/LAPACK library (above)" >&2
    exit 1
fi

[[ -f configs/demo.h5 ]] || "$default_bin" simulate --out configs/demo.h5 --rows 300 --cols 200 --rank 4 --seed 1
for which in default bundled; do
    bin=$default_bin
    [[ $which == bundled ]] && bin=$bundled_bin
    start=$SECONDS
    "$bin" configs/demo.toml --out "$check_dir/$which" --force --quiet
    echo "bundled_check: demo sweep with the $which binary took $((SECONDS - start)) s"
done
compare "$check_dir/default" "$check_dir/bundled"
