#!/usr/bin/env bash
# Memory of a sweep of brain volumes at MNI 2 mm resolution (issue 16): 100 subjects of
# 91 x 109 x 91 voxels (902 629 voxels, the MNI152 2 mm grid), about 230 000 of them in an
# ellipsoid "brain", written as 3-D float32 .nii.gz files by nibabel; then `nnmf-sweep` on the
# glob, under /usr/bin/time -v, and the peak resident memory set beside the in-mask matrix
# (N x p float64) and the factors.
#
# Usage: scripts/volumes_memory.sh [WORKDIR] [THREADS] [SOLVER] [PRECISION]   (defaults
# /tmp/nnmf-volumes-memory, 2, the loss's default solver and its default precision);
# NNMF_SWEEP=path/to/binary measures another build.
# Needs python3 with nibabel and numpy (scripts/setup.sh --test) and a release build.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/nnmf-volumes-memory}"
threads="${2:-2}"
solver="${3:-}"
precision="${4:-}"
tag="t${threads}${solver:+-$solver}${precision:+-$precision}"
bin="${NNMF_SWEEP:-$here/target/release/nnmf-sweep}"
[ -x "$bin" ] || (cd "$here" && cargo build --release)
mkdir -p "$work"
if [ ! -f "$work/vols/sub-100.nii.gz" ]; then
python3 - "$work" <<'PY'
import sys, numpy as np, nibabel as nib
from pathlib import Path
work = Path(sys.argv[1]); (work / "vols").mkdir(parents=True, exist_ok=True)
shape = (91, 109, 91)
affine = np.array([[-2, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]], float)
i, j, k = np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij")
r2 = ((i - 45) / 36.0) ** 2 + ((j - 54) / 44.5) ** 2 + ((k - 42) / 34.0) ** 2
brain = r2 <= 1.0
print("in-mask voxels:", int(brain.sum()), "of", brain.size)
rng = np.random.default_rng(1)
centres = [(30, 40, 40), (60, 40, 40), (45, 75, 45), (45, 50, 65), (45, 30, 25)]
comps = [np.exp(-((i - a) ** 2 + (j - b) ** 2 + (k - c) ** 2) / (2 * 10.0 ** 2)).astype(np.float32) * brain
         for a, b, c in centres]
for s in range(100):
    w = rng.gamma(2.0, 1.0, size=len(comps)).astype(np.float32)
    v = 0.2 * brain + sum(wk * c for wk, c in zip(w, comps))
    v = np.clip(v + rng.normal(0, 0.02, size=shape).astype(np.float32) * brain, 0, None) * brain
    img = nib.Nifti1Image(v.astype(np.float32), affine)
    img.set_sform(affine, 4); img.set_qform(affine, 4)
    nib.save(img, str(work / "vols" / f"sub-{s + 1:03d}.nii.gz"))
PY
fi
cat > "$work/config-$tag.toml" <<TOML
[data]
path = "vols/*.nii.gz"
[model]
loss = "kl"
${solver:+solver = \"$solver\"}
${precision:+precision = \"$precision\"}
[sweep]
ranks = [2, 3, 4, 5, 6]
restarts = 4
seed = 1
[stop]
max_iter = 50        # the peak comes as the first fits run; more iterations change nothing
[selection]
heldout_repeats = 1
[run]
threads = $threads
[output]
dir = "out-$tag"
TOML
out="out-$tag"
time_txt="$work/time-$tag.txt"
rm -rf "${work:?}/$out"
/usr/bin/time -v "$bin" "$work/config-$tag.toml" --quiet 2> "$time_txt" || { cat "$time_txt"; exit 1; }
peak_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$time_txt")
wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$time_txt")
python3 - "$work/$out" "$peak_kb" "$wall" <<'PY'
import sys, h5py
out, peak_kb, wall = sys.argv[1], int(sys.argv[2]), sys.argv[3]
f = h5py.File(f"{out}/results.h5")
n, p = (int(v) for v in f.attrs["input_shape"])
x_mb = n * p * 8 / 2**20
ranks = [int(k.split("_")[1]) for k in f if k.startswith("rank_")]
factors_mb = max((n + p) * r * 8 for r in ranks) / 2**20
peak_mb = peak_kb / 1024
print(f"X: {n} x {p} (float64 {x_mb:.1f} MiB); largest factors W+H {factors_mb:.1f} MiB")
print(f"peak RSS {peak_mb:.1f} MiB = {peak_mb / x_mb:.2f} x the in-mask matrix; "
      f"bound 2 x X + factors = {2 * x_mb + factors_mb:.1f} MiB; wall {wall}")
print("within bound" if peak_mb <= 2 * x_mb + factors_mb else "ABOVE bound")
PY
