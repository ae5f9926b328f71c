#!/usr/bin/env bash
# kill_resume.sh [TRIALS] -- SIGKILL a sweep at a random moment, resume it, check that nothing
# finished was lost and that the result equals an uninterrupted run's, bit for bit.
#
# Each trial: start the demo-sized sweep below in a fresh output dir, SIGKILL it after a random
# delay (0 to about the length of a whole run), snapshot the fit records (name, SHA-256, inode),
# run the same command again, then check that (1) every record present after the kill is still
# there, with the same bytes and inode (not lost, not recomputed), and (2) the results equal a
# reference run's (scripts/same_results.py: every results.h5 dataset and attribute and every
# table, except the wall-clock seconds). A trial in which the kill came after results.h5 was
# written (the run had finished) only checks (2).
#
# Binary: $NNMF_SWEEP, else ${CARGO_TARGET_DIR:-target}/debug/nnmf-sweep (built by cargo test).
# Needs python3 with h5py and numpy (scripts/setup.sh --test). Exit 0 when every trial passes.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-20}
BIN=${NNMF_SWEEP:-${CARGO_TARGET_DIR:-target}/debug/nnmf-sweep}
[[ -x $BIN ]] || { echo "kill_resume.sh: no binary at $BIN (run cargo build first)" >&2; exit 2; }
unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX
WORK=$(mktemp -d /tmp/nnmf-kill-resume.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

"$BIN" simulate --out "$WORK/data.h5" --rows 120 --cols 60 --rank 3 --seed 11 >/dev/null
cat > "$WORK/c.toml" <<'TOML'
[data]
path = "data.h5"
dataset = "X"
[sweep]
ranks = [2, 3, 4]
restarts = 6
seed = 5
[stop]
max_iter = 1500
tol = 1e-9
[selection]
heldout_repeats = 2
null_restarts = 1
TOML

snapshot() {  # name sha256 inode, one line per record
    local d=$1/records
    [[ -d $d ]] || return 0
    for f in "$d"/*.rec; do
        [[ -e $f ]] || continue
        printf '%s %s %s\n' "${f##*/}" "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %i "$f")"
    done
}

t0=$(date +%s%N)
"$BIN" "$WORK/c.toml" --quiet --out "$WORK/reference"
run_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "reference run: ${run_ms} ms; $TRIALS trials, each killed (SIGKILL) after a random delay in [0, ${run_ms} ms]"

failed=0 killed_records=0
for trial in $(seq 1 "$TRIALS"); do
    out=$WORK/trial$trial
    delay_ms=$(( (RANDOM * 32768 + RANDOM) % (run_ms + 1) ))
    delay=$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))
    "$BIN" "$WORK/c.toml" --quiet --out "$out" &
    pid=$!
    sleep "$delay"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    before=$(snapshot "$out")
    n_before=$(printf '%s' "$before" | grep -c . || true)
    killed_records=$((killed_records + n_before))
    if [[ -e $out/results.h5 ]]; then
        note="killed after the run finished"
    else
        "$BIN" "$WORK/c.toml" --quiet --out "$out"
        note="resumed"
    fi
    after=$(snapshot "$out")
    lost=$(comm -23 <(printf '%s\n' "$before" | sort) <(printf '%s\n' "$after" | sort) | grep -c . || true)
    if ! cmp=$(python3 scripts/same_results.py "$WORK/reference" "$out" 2>&1); then
        echo "trial $trial: FAIL results differ: $cmp"; failed=$((failed + 1)); continue
    fi
    if [[ $lost -ne 0 ]]; then
        echo "trial $trial: FAIL $lost records stored before the kill were lost or rewritten"; failed=$((failed + 1)); continue
    fi
    echo "trial $trial: ok (killed after ${delay}s with $n_before of 27 records stored, $note; identical results)"
done
echo "kill_resume: $((TRIALS - failed)) of $TRIALS trials passed ($killed_records records survived kills unchanged)"
[[ $failed -eq 0 ]]
