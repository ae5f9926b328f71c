#!/usr/bin/env bash
# Peak memory of the same sweep with 20 and with 200 restarts per rank (GNU time's maximum
# resident set size). Statistics stream over restarts (consensus counts, held-out block sums,
# stability over the stored fit records), so the two peaks should differ by well under 10%.
# Usage: scripts/memory_restarts.sh [ROWS COLS]   (needs cargo build --release and /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000} cols=${2:-300}
bin=target/release/nnmf-sweep
[[ -x $bin ]] || { echo "build first: cargo build --release" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" simulate --out "$dir/x.h5" --rows "$rows" --cols "$cols" --rank 5 --seed 1 >/dev/null
declare -A peak
for n in 20 200; do
    cat >"$dir/c$n.toml" <<EOF
[data]
path = "x.h5"
dataset = "X"
[sweep]
ranks = [4, 5, 6]
restarts = $n
[stop]
max_iter = 200
[selection]
heldout_repeats = 3
[output]
dir = "out$n"
EOF
    /usr/bin/time -f "%M %e" -o "$dir/time$n" "$bin" "$dir/c$n.toml" --quiet --force
    read -r kib secs <"$dir/time$n"
    peak[$n]=$kib
    echo "restarts=$n: peak RSS $((kib / 1024)) MiB ($kib KiB), ${secs}s, $(ls "$dir/out$n/records" | wc -l) fit records"
done
awk -v a="${peak[20]}" -v b="${peak[200]}" 'BEGIN { printf "difference: %+.1f%% (200 vs 20 restarts)\n", 100 * (b - a) / a }'
