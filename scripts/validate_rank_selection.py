#!/usr/bin/env python3
"""Validates the rank-selection rules on planted data.

For every cell of a grid (true rank r, shape N x p, signal strength, noise model, replicate) it
writes a planted count matrix with `nnmf-sweep simulate`, sweeps ranks r-2 .. r+2 with
`nnmf-sweep`, and reads which rank each rule chose (results.h5 root attributes chosen_by_<rule>).
It prints, per rule, how often the planted rank was recovered, by noise model and signal, and by
shape, as Markdown tables (the README's table comes from here).

Usage: scripts/validate_rank_selection.py [--quick] [--out DIR] [--threads N]
Needs: a release build (cargo build --release) and Python's h5py.
"""
import argparse
import collections
import itertools
import json
import os
import subprocess
import sys
import time

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "nnmf-sweep")
RULES = ["default", "cophenetic", "heldout"]
SIGNALS = {"clear": {"mean": 10.0, "mix": 0.1}, "weak": {"mean": 2.0, "mix": 0.3}}
NOISES = {"poisson": None, "overdispersed": 2.0}  # negative-binomial size k


def grid(quick):
    ranks = [2, 5, 8] if quick else [2, 4, 6, 8, 10]
    shapes = [(200, 100)] if quick else [(50, 50), (200, 100), (500, 300), (2000, 50)]
    seeds = [1] if quick else [1, 2]
    return itertools.product(ranks, shapes, SIGNALS, NOISES, seeds)


def run_cell(out, r, shape, signal, noise, seed, threads):
    n, p = shape
    name = f"r{r}_{n}x{p}_{signal}_{noise}_s{seed}"
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    data = os.path.join(d, "x.h5")
    sim = [BIN, "simulate", "--out", data, "--rows", str(n), "--cols", str(p), "--rank", str(r),
           "--seed", str(seed), "--mean", str(SIGNALS[signal]["mean"]), "--mix", str(SIGNALS[signal]["mix"]), "--force"]
    if NOISES[noise] is not None:
        sim += ["--dispersion", str(NOISES[noise])]
    subprocess.run(sim, check=True, stdout=subprocess.DEVNULL)
    ranks = list(range(max(2, r - 2), r + 3))
    cfg = os.path.join(d, "c.toml")
    with open(cfg, "w") as f:
        f.write(f"""[data]
path = "x.h5"
dataset = "X"
[sweep]
ranks = {ranks}
restarts = 8
seed = {seed}
[stop]
max_iter = 1000
tol = 1e-5
[selection]
heldout_repeats = 3
[output]
dir = "out"
""")
    t0 = time.time()
    subprocess.run([BIN, cfg, "--quiet", "--force", "--threads", str(threads)], check=True)
    with h5py.File(os.path.join(d, "out", "results.h5"), "r") as h:
        chosen = {rule: int(h.attrs[f"chosen_by_{rule}"]) for rule in RULES}
    return {"r": r, "n": n, "p": p, "signal": signal, "noise": noise, "seed": seed,
            "chosen": chosen, "seconds": round(time.time() - t0, 1)}


def table(results, key, title):
    groups = collections.defaultdict(list)
    for res in results:
        groups[key(res)].append(res)
    lines = [f"| {title} | cells | " + " | ".join(RULES) + " |", "|---|---|" + "---|" * len(RULES)]
    for g in sorted(groups):
        cells = groups[g]
        rates = [sum(c["chosen"][rule] == c["r"] for c in cells) / len(cells) for rule in RULES]
        lines.append(f"| {g} | {len(cells)} | " + " | ".join(f"{100 * x:.0f}%" for x in rates) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small grid (a few minutes)")
    ap.add_argument("--out", default="/tmp/nnmf-validate", help="working directory")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: run cargo build --release first")
    os.makedirs(a.out, exist_ok=True)
    results = []
    cells = list(grid(a.quick))
    for i, (r, shape, signal, noise, seed) in enumerate(cells, 1):
        res = run_cell(a.out, r, shape, signal, noise, seed, a.threads)
        results.append(res)
        print(f"[{i}/{len(cells)}] r={r} {shape[0]}x{shape[1]} {signal} {noise} seed={seed}: "
              f"{res['chosen']} ({res['seconds']}s)", file=sys.stderr, flush=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table(results, lambda c: f"{c['noise']}, {c['signal']}", "noise, signal"))
    print()
    print(table(results, lambda c: f"{c['n']} x {c['p']}", "N x p"))
    print()
    print(table(results, lambda c: f"r = {c['r']:2d}", "planted rank"))


if __name__ == "__main__":
    main()
