#!/usr/bin/env python3
"""Sparse input against the dense path and scikit-learn: KL time per iteration and peak memory.

Writes one planted count matrix (default 20000 x 5000, 5% of entries nonzero) twice: as a CSR
group (AnnData's layout: X/data, X/indices, X/indptr, attributes shape and encoding-type) and as a
dense dataset. Then, in one run, on one thread each:

  - nnmf-sweep on the CSR file (f64 and f32) and on the dense file (f64), one fit at the rank,
    random start, a fixed number of iterations (tol 0, one objective check at the end), no
    cross-validation fits (a held-out split copies the training matrix);
  - scikit-learn's NMF(solver="mu", beta_loss="kullback-leibler") on the same CSR matrix
    (scipy.sparse), the same number of iterations, tol 0.

Per iteration = the fit's own seconds (nnmf-sweep's record; sklearn: wall time of fit) divided by
its iterations. Peak memory = maximum resident set size of the whole process (/usr/bin/time),
reported against the size of the sparse input (values 8 bytes, indices 4, offsets 8) plus the
factors W and H in f64.

    scripts/sparse_bench.py [--n 20000 --p 5000 --density 0.05 --rank 20 --iters 50] [--out DIR]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap

import h5py
import numpy as np
import scipy.sparse as sp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def planted(n, p, density, rank, seed):
    """A CSR count matrix with `density` of its entries stored: Poisson(WH) + 1 at a uniformly
    random pattern (so every stored value is positive), with gamma-distributed W and H."""
    rng = np.random.default_rng(seed)
    w = rng.gamma(0.5, 1.0, size=(n, rank))
    h = rng.gamma(0.5, 1.0, size=(rank, p))
    nnz = int(round(density * n * p))
    flat = rng.choice(n * p, size=nnz, replace=False)
    flat.sort()
    rows, cols = np.divmod(flat, p)
    lam = np.einsum("ij,ij->i", w[rows], h[:, cols].T)
    vals = rng.poisson(lam) + 1.0
    x = sp.csr_matrix((vals, (rows, cols)), shape=(n, p))
    x.sort_indices()
    return x


def write_csr(x, path):
    """Writes x as the CSR group X of a new HDF5 file (AnnData's layout)."""
    with h5py.File(path, "w") as f:
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = np.array(x.shape, dtype=np.int64)
        g.create_dataset("data", data=x.data)
        g.create_dataset("indices", data=x.indices.astype(np.int32))
        g.create_dataset("indptr", data=x.indptr.astype(np.int64))


def write_inputs(x, out):
    sparse_path = os.path.join(out, "sparse.h5")
    dense_path = os.path.join(out, "dense.h5")
    write_csr(x, sparse_path)
    with h5py.File(dense_path, "w") as f:
        f.create_dataset("X", data=x.toarray())
    return sparse_path, dense_path


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time; returns (stdout, stderr, peak RSS in bytes)."""
    r = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB %M"] + cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"sparse_bench: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    m = re.findall(r"MAXRSS_KB (\d+)", r.stderr)
    return r.stdout, r.stderr, int(m[-1]) * 1024


def run_ours(binary, path, fmt, precision, args, out):
    name = f"ours-{fmt}-{precision}"
    cfg = os.path.join(out, name + ".toml")
    with open(cfg, "w") as f:
        f.write(textwrap.dedent(f"""\
            [data]
            path = "{path}"
            dataset = "X"
            [model]
            loss = "kl"
            solver = "mu"
            init = "random"
            precision = "{precision}"
            [sweep]
            ranks = [{args.rank}]
            restarts = 1
            seed = 1
            [stop]
            max_iter = {args.iters}
            tol = 0
            check_every = {args.iters}
            [output]
            dir = "{os.path.join(out, name)}"
            [selection]
            rule = "cophenetic"
            heldout_repeats = 0
            [run]
            threads = 1
            """))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    _, _, rss = timed([binary, cfg, "--quiet", "--force"], env)
    with h5py.File(os.path.join(out, name, "results.h5"), "r") as f:
        fits = f["fits"]
        secs = float(fits["seconds"][0])
        iters = int(fits["iterations"][0])
        kl = float(fits["kl"][0])
    return secs / iters, rss, kl


SKLEARN = r"""
import sys, time, h5py, numpy as np, scipy.sparse as sp
from sklearn.decomposition import NMF
path, rank, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with h5py.File(path, "r") as f:
    g = f["X"]
    x = sp.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=tuple(g.attrs["shape"]))
m = NMF(n_components=rank, init="random", solver="mu", beta_loss="kullback-leibler",
        max_iter=iters, tol=0, random_state=0)
t = time.perf_counter()
w = m.fit_transform(x)
secs = time.perf_counter() - t
print(secs / m.n_iter_, m.n_iter_)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--p", type=int, default=5000)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--rank", type=int, default=20)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--out", default=None)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "nnmf-sweep"))
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="sparse_bench.")
    os.makedirs(out, exist_ok=True)

    x = planted(args.n, args.p, args.density, args.rank, seed=7)
    sparse_path, dense_path = write_inputs(x, out)
    n, p, r = args.n, args.p, args.rank
    input_bytes = x.nnz * (8 + 4) + (n + 1) * 8
    factor_bytes = (n + p) * r * 8
    base = input_bytes + factor_bytes
    print(f"# {n} x {p}, nnz {x.nnz} ({100 * x.nnz / (n * p):.2f}%), rank {r}, {args.iters} iterations, 1 thread")
    print(f"# sparse input {input_bytes / 2**20:.1f} MiB + factors {factor_bytes / 2**20:.1f} MiB = {base / 2**20:.1f} MiB")

    env1 = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rows = []
    for fmt, path, prec in [("sparse", sparse_path, "f64"), ("sparse", sparse_path, "f32"), ("dense", dense_path, "f64")]:
        per, rss, kl = run_ours(args.bin, path, fmt, prec, args, out)
        rows.append((f"nnmf-sweep {fmt} input, MU-KL {prec}", per, rss, kl))
    stdout, _, rss = timed([sys.executable, "-c", SKLEARN, sparse_path, str(r), str(args.iters)], env1)
    per, iters = stdout.split()
    rows.append((f"scikit-learn {__import__('sklearn').__version__} MU-KL on CSR ({iters} it.)", float(per), rss, None))

    sparse64 = rows[0][1]
    print("| run | s / iteration | vs nnmf-sweep sparse f64 | peak RSS MiB | peak / (sparse input + factors) |")
    print("|---|---:|---:|---:|---:|")
    for name, per, rss, _ in rows:
        print(f"| {name} | {per:.4f} | {per / sparse64:.2f} | {rss / 2**20:.0f} | {rss / base:.2f} |")
    kls = [kl for _, _, _, kl in rows if kl is not None]
    print(f"# KL after {args.iters} iterations: " + ", ".join(f"{k:.10e}" for k in kls))


if __name__ == "__main__":
    main()
