#!/usr/bin/env python3
"""Checks that two nnmf-sweep output directories hold the same results, bit for bit.

Usage: scripts/same_results.py DIR_A DIR_B

Compared: every dataset and attribute of results.h5 (exact bytes, NaN == NaN), summary.tsv,
selection.txt and memberships_rank_*.tsv (exact text), and fits.tsv, heldout.tsv and
null_fits.tsv without their last column, `seconds` (wall-clock time, the one value that is not
reproducible; for the same reason the `seconds` datasets of results.h5 are skipped). Exit 0 when
equal, 1 with the differences listed otherwise. Needs h5py and numpy.
"""
import glob
import os
import sys

import h5py
import numpy as np


def h5_items(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for k, v in obj.attrs.items():
                out[f"{name}@{k}"] = v
            if isinstance(obj, h5py.Dataset) and not name.endswith("/seconds"):
                out[name] = obj[()]
        for k, v in f.attrs.items():
            out[f"/@{k}"] = v
        f.visititems(visit)
    return out


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return a.tobytes() == b.tobytes()
    return bool(np.all(a == b))


def without_last_column(path):
    with open(path) as f:
        return [line.rstrip("\n").rsplit("\t", 1)[0] for line in f]


def main(a, b):
    diffs = []
    ha, hb = h5_items(os.path.join(a, "results.h5")), h5_items(os.path.join(b, "results.h5"))
    for k in sorted(set(ha) | set(hb)):
        if k not in ha or k not in hb:
            diffs.append(f"results.h5 {k}: only in {'A' if k in ha else 'B'}")
        elif not same(ha[k], hb[k]):
            diffs.append(f"results.h5 {k} differs")
    names = lambda d, pat: sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, pat)))
    exact = ["summary.tsv", "selection.txt"] + names(a, "memberships_rank_*.tsv")
    if names(a, "memberships_rank_*.tsv") != names(b, "memberships_rank_*.tsv"):
        diffs.append("memberships files differ")
    for name in exact:
        if open(os.path.join(a, name), "rb").read() != open(os.path.join(b, name), "rb").read():
            diffs.append(f"{name} differs")
    for name in ["fits.tsv", "heldout.tsv", "null_fits.tsv"]:
        pa, pb = os.path.join(a, name), os.path.join(b, name)
        if os.path.exists(pa) != os.path.exists(pb):
            diffs.append(f"{name}: only in one")
        elif os.path.exists(pa) and without_last_column(pa) != without_last_column(pb):
            diffs.append(f"{name} differs (seconds column excluded)")
    for d in diffs:
        print(d)
    print(f"compared {len(ha)} results.h5 items and {len(exact) + 3} tables: "
          + ("identical" if not diffs else f"{len(diffs)} differences"))
    return 1 if diffs else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
