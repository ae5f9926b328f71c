#!/usr/bin/env bash
# submit.sh CONFIG OUTDIR SHARDS [SBATCH_ARGS...] -- submit a sweep as a Slurm job array of SHARDS
# tasks (sweep-array.sbatch) and a merge job that runs once every task succeeded
# (merge.sbatch, --dependency=afterok). Prints the two job ids ("ARRAY_ID MERGE_ID").
#
# SBATCH_ARGS go to both jobs (e.g. --partition=short --account=lab). Logs are written to the
# current directory. The binary is $NNMF_SWEEP, else nnmf-sweep on PATH, else this clone's
# target/release/nnmf-sweep. OUTDIR must be on a file system every node sees.
#
# To rerun one task I that failed or was cancelled (it resumes, keeping its finished fits):
#   sbatch --array=I --export=ALL,NNMF_CONFIG=CONFIG,NNMF_OUT=OUTDIR,NNMF_SHARDS=SHARDS,NNMF_SWEEP=BIN \
#       scripts/slurm/sweep-array.sbatch
# then merge: sbatch --dependency=afterok:<its id> --export=ALL,NNMF_OUT=OUTDIR,NNMF_SWEEP=BIN scripts/slurm/merge.sbatch
set -euo pipefail
if [[ $# -lt 3 ]]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
config=$(realpath "$1") out=$(realpath -m "$2") shards=$3
shift 3
[[ -f $config ]] || { echo "submit.sh: no config file $1" >&2; exit 2; }
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: SHARDS must be a positive integer, not '$shards'" >&2; exit 2; }
bin=${NNMF_SWEEP:-$(command -v nnmf-sweep || echo "$here/../../target/release/nnmf-sweep")}
bin=$(realpath "$bin")
[[ -x $bin ]] || { echo "submit.sh: no nnmf-sweep binary at $bin: run cargo build --release, or set NNMF_SWEEP" >&2; exit 2; }
export NNMF_CONFIG=$config NNMF_OUT=$out NNMF_SHARDS=$shards NNMF_SWEEP=$bin
array=$(sbatch --parsable --export=ALL --array=0-$((shards - 1)) "$@" "$here/sweep-array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --export=ALL --dependency=afterok:"$array" "$@" "$here/merge.sbatch")
merge=${merge%%;*}
echo "submit.sh: array job $array ($shards shards of $config into $out), merge job $merge (after all succeed)" >&2
echo "$array $merge"
