#!/usr/bin/env bash
# test_slurm.sh -- the Slurm end-to-end test (run by scripts/test.sh on a local single-node Slurm
# started with scripts/slurm/local-slurm.sh; it needs a working sbatch/squeue/scontrol and
# FAILS, never skips, without one).
#
# A: the demo sweep (configs/demo.toml on its planted 300 x 200 matrix) submitted with submit.sh as
#    a 4-task array plus a merge job (--dependency=afterok); the merged result must equal a
#    single-process run bit for bit (scripts/same_results.py).
# B: the same sweep into another directory; one task is scancelled while running (after it stored
#    3 fits), then resubmitted alone (--array=I) with a merge job depending on every task; checks
#    that the cancelled task exited through its SIGTERM path, that every record stored before the
#    resubmission is still there with the same bytes and inode (nothing lost or recomputed), that
#    the resubmitted task computed only the missing fits, and that the result equals the
#    single-process run.
#
# Binary: $NNMF_SWEEP, else ${CARGO_TARGET_DIR:-target}/debug/nnmf-sweep (built by cargo test).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
die() { echo "test_slurm: FAIL: $*" >&2; exit 1; }
for c in sbatch squeue scontrol scancel; do
    command -v "$c" >/dev/null || die "$c not found: Slurm is needed (scripts/test.sh starts a local one)"
done
timeout 20 squeue -h >/dev/null || die "squeue cannot reach slurmctld (is SLURM_CONF set?)"
BIN=$(realpath "${NNMF_SWEEP:-${CARGO_TARGET_DIR:-target}/debug/nnmf-sweep}")
[[ -x $BIN ]] || die "no binary at $BIN (cargo build)"
export NNMF_SWEEP=$BIN
WORK=$(mktemp -d /tmp/nnmf-slurm-test.XXXXXX)
trap 'if [[ $? -eq 0 ]]; then rm -rf "$WORK"; else echo "test_slurm: work dir kept for inspection: $WORK" >&2; fi' EXIT
cd "$WORK"

wait_gone() {  # JOBID SECONDS: wait until squeue no longer lists the job
    local t=0
    while [[ -n $(squeue -h -j "$1" 2>/dev/null) ]]; do
        if [[ $(squeue -h -j "$1" -o '%r' 2>/dev/null) == *DependencyNeverSatisfied* ]]; then
            scancel "$1"; die "job $1 will never start: a job it depends on failed (logs: $(tail -n 3 ./*.log))"
        fi
        sleep 1; t=$((t + 1))
        [[ $t -lt $2 ]] || die "job $1 still queued or running after $2 s"
    done
}
job_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
snapshot() { for f in "$1"/records/*.rec; do echo "${f##*/} $(sha256sum < "$f" | cut -c1-64) $(stat -c %i "$f")"; done | sort; }

cp "$repo/configs/demo.toml" demo.toml
"$BIN" simulate --out demo.h5 --rows 300 --cols 200 --rank 4 --seed 1 >/dev/null
t0=$(date +%s)
"$BIN" demo.toml --quiet --out single
echo "test_slurm: single-process reference run: $(( $(date +%s) - t0 )) s"

# ---- A: array + dependent merge -------------------------------------------------------------
t0=$(date +%s)
read -r array merge < <("$repo/scripts/slurm/submit.sh" demo.toml outA 4)
wait_gone "$merge" 600
[[ $(job_state "$merge") == COMPLETED ]] || { cat nnmf-merge-"$merge".log >&2 || true; die "merge job $merge: $(job_state "$merge")"; }
for i in 0 1 2 3; do
    grep -q "shard $i/4: its" nnmf-sweep-"${array}_$i".log || die "task $i log: $(cat nnmf-sweep-"${array}_$i".log)"
done
python3 "$repo/scripts/same_results.py" single outA || die "A: merged result differs from the single-process run"
echo "test_slurm: A ok: 4-task array $array + merge $merge in $(( $(date +%s) - t0 )) s; merged result identical"

# ---- B: scancel one running task, resubmit it ------------------------------------------------
t0=$(date +%s)
export NNMF_CONFIG=$WORK/demo.toml NNMF_OUT=$WORK/outB NNMF_SHARDS=4
array=$(sbatch --parsable --export=ALL --array=0-3 "$repo/scripts/slurm/sweep-array.sbatch")
victim="" waited=0
while [[ -z $victim ]]; do
    sleep 0.5; waited=$((waited + 1))
    [[ $waited -lt 600 ]] || die "B: no task caught running with part of its fits done"
    for i in $(squeue -h -j "$array" -t RUNNING -o '%K' 2>/dev/null); do
        [[ -d outB/records ]] || continue
        line=$("$BIN" status outB --shards 4 | awk -v s="$i" '$1 == s && NF == 3 {print $2, $3}')
        read -r d m <<<"${line:-0 0}"
        if [[ $d -ge 3 && $m -ge 2 ]]; then victim=$i; break; fi
    done
done
scancel "${array}_$victim"
wait_gone "${array}_$victim" 60
log=nnmf-sweep-"${array}_$victim".log
[[ $(job_state "${array}_$victim") == CANCELLED ]] || die "B: task $victim: $(job_state "${array}_$victim")"
grep -q "incomplete: stopped by a signal" "$log" || die "B: cancelled task did not stop through SIGTERM: $(cat "$log")"
done_before=$("$BIN" status outB --shards 4 | awk -v s="$victim" '$1 == s && NF == 3 {print $2}')
before=$(snapshot outB)
echo "test_slurm: B: scancelled task $victim with $done_before of its fits stored: $(grep incomplete "$log")"
re=$(sbatch --parsable --export=ALL --array="$victim" "$repo/scripts/slurm/sweep-array.sbatch")
deps=afterok:$re
for i in 0 1 2 3; do [[ $i == "$victim" ]] || deps+=":${array}_$i"; done
merge=$(sbatch --parsable --export=ALL --dependency="$deps" "$repo/scripts/slurm/merge.sbatch")
wait_gone "$merge" 600
[[ $(job_state "$merge") == COMPLETED ]] || { cat nnmf-merge-"$merge".log >&2 || true; die "B: merge job $merge: $(job_state "$merge")"; }
relog=nnmf-sweep-"${re}_$victim".log
grep -q "resuming: $done_before of [0-9]* fits are already stored" "$relog" || die "B: resubmitted task did not resume: $(cat "$relog")"
lost=$(comm -23 <(echo "$before") <(snapshot outB))
[[ -z $lost ]] || die "B: records lost or recomputed after the resubmission: $lost"
python3 "$repo/scripts/same_results.py" single outB || die "B: merged result differs from the single-process run"
echo "test_slurm: B ok: $(grep -o 'resuming: .* recomputed' "$relog"); $(echo "$before" | wc -l) records kept unchanged; merged result identical ($(( $(date +%s) - t0 )) s)"
echo "test_slurm: passed"
