#!/usr/bin/env python3
"""Benchmarks nnmf-sweep against its peers on one planted matrix, in one run.

Usage: scripts/compare.py --case brunet|medium [--threads N] [--workdir DIR] [--seed S]
                          [--r-nrun N] [--r-maxiter N]

Cases (the matrix is planted counts from `nnmf-sweep simulate`; every tool factorizes the same
N x p matrix X, observations as rows, X ~ W H with W N x r and H r x p):

  brunet  5000 x 38, planted rank 3; R NMF's classic setting: KL loss, ranks 2..5, 50 random
          restarts per rank, the best fit of each rank kept.
            nnmf-sweep    loss "kl", solver "mu", init "random", max_iter 2000, tol 1e-6,
                          heldout_repeats 0, rule "cophenetic" (so only the 200 fits run)
            R NMF         nmf(X, 2:5, method = "brunet", nrun = 50, seed = S, .options = "pN")
                          with its default stopping rule
            scikit-learn  NMF(solver="mu", beta_loss="kullback-leibler", init="random",
                          max_iter=2000, tol=1e-4, random_state=i), 50 restarts run one after
                          the other in this process, the best kept
          Default threads: 2 (nnmf-sweep threads, R NMF workers, sklearn's BLAS threads).
  medium  5000 x 1000, planted rank 10, one fit per tool at rank 10, both losses:
            KL:        nnmf-sweep mu; scikit-learn mu; R NMF "brunet"
            Frobenius: nnmf-sweep hals; scikit-learn cd; RcppML nmf (tol 1e-4, its defaults);
                       R NMF "lee"
          R NMF's methods run with the package's default cap of 2000 iterations (its "brunet"
          took about 200 s here, 0.1 s per iteration); --r-maxiter N caps them lower where a
          single run would take more than about 5 minutes, and the table then says so.
          Default threads: 1 for every tool.

What is measured:
  - wall seconds: for nnmf-sweep, the whole process (reading the HDF5 file, the fits, the
    statistics, writing results.h5, tables and plots); for scikit-learn, the fit_transform calls
    (all restarts of all ranks); for R, the one nmf() call, timed inside R (R's start-up,
    package loading and reading the data are not counted; the Rscript process time is in the
    notes). Tools run one after the other, never at the same time.
  - KL divergence and squared Frobenius error of the best fit of each rank, computed here in
    numpy by ONE definition for every tool from the factors W, H that the tool returns:
        KL = sum_{x>0} x ln(x / wh) - sum x + sum wh,   Frobenius = sum (x - wh)^2.
    Each tool picks its own best restart (by its own objective); only the reported numbers are
    recomputed.
  - the time ratio of each peer to nnmf-sweep (same loss in the medium case).

Data handed to the tools: the HDF5 file from `simulate` (nnmf-sweep), a raw row-major
little-endian float64 file read with readBin (R; much faster than CSV; R reports the sum of what
it read, checked here), the numpy array (scikit-learn).

Needs: target/release/nnmf-sweep (cargo build --release), Python's numpy, h5py, scikit-learn
(threadpoolctl, which scikit-learn depends on, limits its BLAS threads), Rscript with the R
packages NMF and RcppML. A missing peer stops the script with a message saying what to install.
Runtime on a shared 2-core machine: brunet about 7 minutes, medium about 10 minutes.
"""
import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "nnmf-sweep")
R_SCRIPT = os.path.join(ROOT, "scripts", "compare_nmf.R")

CASES = {
    "brunet": {"rows": 5000, "cols": 38, "rank": 3, "threads": 2},
    "medium": {"rows": 5000, "cols": 1000, "rank": 10, "threads": 1},
}
BRUNET_RANKS = [2, 3, 4, 5]
MEDIUM_RANK = 10


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every tool that can use them (default: brunet 2, medium 1)")
    ap.add_argument("--workdir", default=None,
                    help="folder for the data and every tool's output (default: a new temporary folder)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the data and of every tool (default 1)")
    ap.add_argument("--restarts", type=int, default=50,
                    help="brunet case: restarts per rank for nnmf-sweep and scikit-learn (default 50)")
    ap.add_argument("--r-nrun", type=int, default=None,
                    help="brunet case: R NMF's nrun when fewer than --restarts must be measured "
                         "(its time is then also extrapolated to --restarts; stated in the table)")
    ap.add_argument("--r-maxiter", type=int, default=0,
                    help="medium case: iteration cap of R NMF's single runs (default 0: the package's 2000)")
    args = ap.parse_args()
    if args.threads is None:
        args.threads = CASES[args.case]["threads"]
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    if args.r_nrun is None:
        args.r_nrun = args.restarts
    return args


# Thread limits must be in the environment before numpy (and its BLAS) is first imported;
# threadpoolctl then also limits the BLAS and OpenMP pools already loaded.
ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)


def die(msg):
    print(f"compare.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def check_tools(case):
    """Returns the version of every tool; stops with one message listing every missing one."""
    missing, versions = [], {}
    try:
        import numpy  # noqa: F401
        import h5py  # noqa: F401
    except ImportError as e:
        missing.append(f"Python package {e.name} (pip install numpy h5py, or apt-get install python3-h5py)")
    try:
        import sklearn
        versions["sklearn"] = sklearn.__version__
    except ImportError:
        missing.append("scikit-learn (pip install scikit-learn)")
    if not os.access(BIN, os.X_OK):
        missing.append(f"nnmf-sweep release binary {BIN} (cargo build --release)")
    else:
        out = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True).stdout
        versions["nnmf-sweep"] = out.strip().split()[-1]
    if shutil.which("Rscript") is None:
        missing.append("Rscript (apt-get install r-base-core), with the R packages NMF and RcppML")
    else:
        r_pkgs = ["NMF"] + (["RcppML"] if case == "medium" else [])
        for pkg in r_pkgs:
            res = subprocess.run(["Rscript", "-e", f'cat(as.character(packageVersion("{pkg}")))'],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                missing.append(f"R package {pkg} (apt-get install r-cran-{pkg.lower()})")
            else:
                versions[pkg] = res.stdout.strip()
        res = subprocess.run(["Rscript", "-e", "cat(R.version$major, R.version$minor, sep='.')"],
                             capture_output=True, text=True)
        versions["R"] = res.stdout.strip()
    if not os.path.exists(R_SCRIPT):
        missing.append(f"{R_SCRIPT} (the R half of this script)")
    if missing:
        die("missing peers, nothing was run:\n  - " + "\n  - ".join(missing))
    return versions


def losses(np, X, W, H):
    """KL divergence and squared Frobenius error of W H, one definition for every tool."""
    if W.min() < 0 or H.min() < 0:
        raise ValueError("negative entries in the factors")
    WH = W @ H
    pos = X > 0
    with np.errstate(divide="ignore"):
        kl = float(np.sum(X[pos] * np.log(X[pos] / WH[pos])) - X.sum() + WH.sum())
    frob = float(np.sum((X - WH) ** 2))
    return kl, frob


class Fit:
    """The best fit of one rank from one tool run, with what the table shows about it."""

    def __init__(self, tool, loss, settings, rank, seconds, W, H, iterations, stop, run_id):
        self.tool, self.loss, self.settings, self.rank = tool, loss, settings, rank
        self.seconds, self.W, self.H = seconds, W, H
        self.iterations, self.stop = iterations, stop
        self.run_id = run_id  # fits of one run share the wall time (shown once)
        self.kl = self.frob = None


# ---------------------------------------------------------------------------------------------
# nnmf-sweep


def run_nnmf(np, h5py, work, name, loss, solver, ranks, restarts, threads, seed, tool):
    """Writes a config, runs the binary, reads back the best fit of every rank from results.h5."""
    cfg = os.path.join(work, f"{name}.toml")
    out = os.path.join(work, f"{name}-results")
    with open(cfg, "w") as f:
        f.write(f"""# written by scripts/compare.py
[data]
path = "x.h5"
dataset = "X"

[model]
loss = "{loss}"
solver = "{solver}"
init = "random"

[sweep]
ranks = {list(ranks)}
restarts = {restarts}
seed = {seed}

[stop]
max_iter = 2000
tol = 1e-6

[selection]
heldout_repeats = 0     # no cross-validation fits: only the restarts run, as with the peers
rule = "cophenetic"

[run]
threads = {threads}
""")
    t0 = time.perf_counter()
    res = subprocess.run([BIN, cfg, "--out", out, "--threads", str(threads), "--quiet", "--force"],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        die(f"nnmf-sweep failed (exit {res.returncode}):\n{res.stderr}")
    settings = (f"{solver}, init random, {restarts} restart{'s' if restarts > 1 else ''}"
                f"{'/rank' if len(ranks) > 1 else ''}, max_iter 2000, tol 1e-6, heldout_repeats 0, "
                f"{threads} thread{'s' if threads > 1 else ''}")
    fits, fit_seconds = [], 0.0
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        fit_seconds = float(np.sum(f["fits/seconds"][:]))
        for r in ranks:
            g = f[f"rank_{r}"]
            a = g.attrs
            stop = _str(a["stop_reason"])
            if len(ranks) > 1 or restarts > 1:
                stop += f"; {int(a['converged'])}/{int(a['fits'])} converged"
            fit = Fit(tool, loss, settings, r, seconds, g["W"][:], g["H"][:], int(a["iterations"]), stop, name)
            fit.own = {"kl": float(a["kl"]), "frob": float(a["frobenius_sq"])}  # cross-check
            fits.append(fit)
    note = (f"nnmf-sweep {name}: wall {seconds:.1f} s for the whole process; the fits themselves "
            f"took {fit_seconds:.1f} s of thread time (sum of fits.tsv seconds over {threads} thread(s))")
    return fits, [note]


def _str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


# ---------------------------------------------------------------------------------------------
# scikit-learn


def run_sklearn(np, X, ranks, restarts, threads, solver, beta_loss, loss, tool):
    """Restarts 0..restarts-1 (random_state) of each rank, one after the other; keeps the best
    by scikit-learn's own reconstruction_err_ (monotone in its objective)."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the environment variables set above still apply
        threadpool_limits = None
    max_iter, tol = 2000, 1e-4
    fits, total, not_converged = [], 0.0, 0
    for r in ranks:
        best, converged = None, 0
        for i in range(restarts):
            model = NMF(n_components=r, solver=solver, beta_loss=beta_loss, init="random",
                        max_iter=max_iter, tol=tol, random_state=i)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                ctx = threadpool_limits(limits=threads) if threadpool_limits else _null()
                with ctx:
                    t0 = time.perf_counter()
                    W = model.fit_transform(X)
                    total += time.perf_counter() - t0
            converged += model.n_iter_ < max_iter
            if best is None or model.reconstruction_err_ < best[0]:
                best = (model.reconstruction_err_, W, model.components_.copy(), model.n_iter_)
        _, W, H, n_iter = best
        not_converged += restarts - converged
        stop = "max_iter" if n_iter >= max_iter else "converged"
        if restarts > 1:
            stop += f"; {converged}/{restarts} converged"
        fits.append(Fit(tool, loss, None, r, None, W, H, n_iter, stop, f"sklearn-{solver}"))
    restarts_text = (f"{restarts} restarts/rank (random_state 0..{restarts - 1}, sequential)" if restarts > 1
                     else "1 run (random_state 0)")
    settings = (f"solver {solver}{', beta_loss ' + beta_loss if solver == 'mu' else ''}, init random, "
                f"{restarts_text}, max_iter {max_iter}, tol {tol:g}, "
                f"{threads} BLAS thread{'s' if threads > 1 else ''}")
    for fit in fits:
        fit.settings, fit.seconds = settings, total
    notes = []
    if not_converged:
        notes.append(f"scikit-learn {solver}: {not_converged} of {restarts * len(ranks)} fits reached max_iter {max_iter}")
    return fits, notes


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# ---------------------------------------------------------------------------------------------
# R: NMF and RcppML (scripts/compare_nmf.R)


def run_r(np, work, xbin, shape, job, threads, seed, nrun, maxiter):
    """Runs one job of compare_nmf.R; returns [(rank, seconds, iterations, W, H)] and the
    Rscript process's own wall time."""
    n, p = shape
    out = os.path.join(work, f"r-{job}")
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ)
    # R NMF parallelizes over restarts with its own workers and RcppML with its threads
    # argument; R's BLAS stays single-threaded so nothing is oversubscribed.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = ["Rscript", R_SCRIPT, job, xbin, str(n), str(p), out, str(threads), str(seed), str(nrun), str(maxiter)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    process_seconds = time.perf_counter() - t0
    if res.returncode != 0:
        die(f"R job {job} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    rows = []
    with open(os.path.join(out, "result.tsv")) as f:
        for line in f:
            r, seconds, iters, _fits, rn, rp, xsum = line.split("\t")
            r = int(r)
            if (int(rn), int(rp)) != (n, p):
                die(f"R read a {rn} x {rp} matrix, expected {n} x {p}")
            rows.append((r, float(seconds), int(iters), float(xsum),
                         _read_r_matrix(np, os.path.join(out, f"W_{r}.bin"), (n, r)),
                         _read_r_matrix(np, os.path.join(out, f"H_{r}.bin"), (r, p))))
    return rows, process_seconds


def _read_r_matrix(np, path, shape):
    return np.fromfile(path, dtype="<f8").reshape(shape, order="F")  # R is column-major


def check_r_sum(np, X, xsum, job):
    if not np.isclose(xsum, X.sum(), rtol=1e-12, atol=0):
        die(f"R ({job}) read a different matrix: sum {xsum!r}, expected {X.sum()!r}")


# ---------------------------------------------------------------------------------------------
# The cases


def case_brunet(np, h5py, X, work, xbin, args, v):
    t, R = args.threads, args.restarts
    fits, notes = [], []

    f, n = run_nnmf(np, h5py, work, "nnmf-kl-mu", "kl", "mu", BRUNET_RANKS, R, t, args.seed,
                    f"nnmf-sweep {v['nnmf-sweep']}")
    fits += f
    notes += n

    rows, proc = run_r(np, work, xbin, X.shape, "nmf-brunet-sweep", t, args.seed, args.r_nrun, 0)
    settings = (f'method "brunet", nrun {args.r_nrun}, seed {args.seed}, .options "p{t}" ({t} workers), '
                f"default stop (connectivity stationary 40 it., maxIter 2000)")
    extrapolated = None
    if args.r_nrun != R:
        extrapolated = rows[0][1] * R / args.r_nrun
        settings += (f"; REDUCED: only nrun {args.r_nrun} of {R} measured (time for {R} extrapolated "
                     f"linearly: {extrapolated:.0f} s, used for the ratio)")
    for r, seconds, iters, xsum, W, H in rows:
        check_r_sum(np, X, xsum, "nmf-brunet-sweep")
        fit = Fit(f"R NMF {v['NMF']}", "kl", settings, r, seconds, W, H, iters,
                  "best of nrun (per-run stop reasons not returned)", "r-nmf-brunet")
        fit.ratio_seconds = extrapolated
        fits.append(fit)
    notes.append(f"R NMF: nmf() call {rows[0][1]:.1f} s; Rscript process {proc:.1f} s (start-up, package loading, reading X, writing factors)")

    f, n = run_sklearn(np, X, BRUNET_RANKS, R, t, "mu", "kullback-leibler", "kl", f"scikit-learn {v['sklearn']}")
    fits += f
    notes += n
    return fits, notes


def case_medium(np, h5py, X, work, xbin, args, v):
    t, seed = args.threads, args.seed
    fits, notes = [], []
    nn = f"nnmf-sweep {v['nnmf-sweep']}"
    sk = f"scikit-learn {v['sklearn']}"
    cap = args.r_maxiter
    cap_text = (f"maxIter CAPPED at {cap} (default 2000) to keep the run under ~5 min" if cap > 0
                else "maxIter 2000 (default)")

    def r_fit(job, loss, tool, settings, maxit):
        rows, proc = run_r(np, work, xbin, X.shape, job, t, seed, 1, cap if job != "rcppml" else 0)
        (r, seconds, iters, xsum, W, H), = rows
        check_r_sum(np, X, xsum, job)
        stop = "max_iter" if iters >= maxit else "converged"
        notes.append(f"{tool} ({job}): fit call {seconds:.1f} s; Rscript process {proc:.1f} s")
        if seconds > 300:
            notes.append(f"WARNING: {tool} ({job}) took over 5 minutes; cap it with --r-maxiter")
        return Fit(tool, loss, settings, r, seconds, W, H, iters, stop, job)

    # KL loss
    f, n = run_nnmf(np, h5py, work, "nnmf-kl-mu", "kl", "mu", [MEDIUM_RANK], 1, t, seed, nn)
    fits += f
    notes += n
    f, n = run_sklearn(np, X, [MEDIUM_RANK], 1, t, "mu", "kullback-leibler", "kl", sk)
    fits += f
    notes += n
    r_cap = cap if cap > 0 else 2000
    fits.append(r_fit("nmf-brunet", "kl", f"R NMF {v['NMF']}",
                      f'method "brunet", 1 run, seed {seed}, default stop (connectivity), {cap_text}', r_cap))

    # Frobenius loss
    f, n = run_nnmf(np, h5py, work, "nnmf-frob-hals", "frobenius", "hals", [MEDIUM_RANK], 1, t, seed, nn)
    fits += f
    notes += n
    f, n = run_sklearn(np, X, [MEDIUM_RANK], 1, t, "cd", "frobenius", "frobenius", sk)
    fits += f
    notes += n
    fits.append(r_fit("rcppml", "frobenius", f"RcppML {v['RcppML']}",
                      f"nmf(k = 10, tol 1e-4, seed {seed}; defaults: maxit 100, diag TRUE, L1 0; "
                      f"loss: mean squared error, the only one in this version), threads {t}", 100))
    fits.append(r_fit("nmf-lee", "frobenius", f"R NMF {v['NMF']}",
                      f'method "lee", 1 run, seed {seed}, default stop (connectivity), {cap_text}', r_cap))
    return fits, notes


# ---------------------------------------------------------------------------------------------
# The table


def print_table(fits, args, v, shape, rows_info):
    n, p = shape
    print(f"## nnmf-sweep vs peers, case `{args.case}`: X {n} x {p} (planted rank {rows_info}, "
          f"`nnmf-sweep simulate --seed {args.seed}`), {args.threads} thread(s)")
    print()
    print(f"Versions: nnmf-sweep {v['nnmf-sweep']}, scikit-learn {v['sklearn']}, R NMF {v['NMF']}"
          + (f", RcppML {v['RcppML']}" if "RcppML" in v else "")
          + f" (R {v['R']}), Python {platform.python_version()}, numpy {_np_version()}")
    print()
    print("| tool | loss | settings | wall s | time / nnmf-sweep | rank | iterations (best fit) | stop (best fit) "
          "| KL | KL vs nnmf-sweep | Frobenius² | Frobenius² vs nnmf-sweep |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    # Reference: nnmf-sweep's run of the same loss (its time) and its fit of the same rank.
    ref_run = {fit.loss: fit for fit in fits if fit.tool.startswith("nnmf-sweep")}
    ref_fit = {(fit.loss, fit.rank): fit for fit in fits if fit.tool.startswith("nnmf-sweep")}
    seen_runs = set()
    for fit in fits:
        first = fit.run_id not in seen_runs
        seen_runs.add(fit.run_id)
        ref = ref_fit.get((fit.loss, fit.rank))
        is_ref = ref is fit
        tool = fit.tool if first else ""
        settings = fit.settings if first else "〃"
        wall = f"{fit.seconds:.1f}" if first else ""
        if first:
            base = ref_run[fit.loss].seconds
            num = getattr(fit, "ratio_seconds", None) or fit.seconds
            ratio = "1.00" if is_ref else f"{num / base:.2f}"
        else:
            ratio = ""
        print(f"| {tool} | {fit.loss} | {settings} | {wall} | {ratio} | {fit.rank} | {fit.iterations} | {fit.stop} "
              f"| {fit.kl:.8g} | {_rel(fit.kl, ref.kl, is_ref)} | {fit.frob:.8g} | {_rel(fit.frob, ref.frob, is_ref)} |")
    print()


def _rel(x, ref, is_ref):
    return "—" if is_ref else f"{100.0 * (x - ref) / ref:+.4f}%"


def _np_version():
    import numpy
    return numpy.__version__


def main():
    args = ARGS
    versions = check_tools(args.case)
    import numpy as np
    import h5py

    c = CASES[args.case]
    work = args.workdir or tempfile.mkdtemp(prefix=f"nnmf-compare-{args.case}-")
    os.makedirs(work, exist_ok=True)
    work = os.path.abspath(work)
    print(f"working folder: {work}; load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)

    # The data: planted counts, written once, handed to every tool.
    h5 = os.path.join(work, "x.h5")
    subprocess.run([BIN, "simulate", "--out", h5, "--rows", str(c["rows"]), "--cols", str(c["cols"]),
                    "--rank", str(c["rank"]), "--seed", str(args.seed), "--force"],
                   check=True, stdout=subprocess.DEVNULL)
    with h5py.File(h5, "r") as f:
        X = np.ascontiguousarray(f["X"][:], dtype=np.float64)
    xbin = os.path.join(work, "x.bin")
    X.astype("<f8").tofile(xbin)  # row-major, raw little-endian float64 for R's readBin

    run = case_brunet if args.case == "brunet" else case_medium
    fits, notes = run(np, h5py, X, work, xbin, args, versions)

    # One loss definition for every tool, from the factors it returned.
    for fit in fits:
        fit.kl, fit.frob = losses(np, X, fit.W, fit.H)
        own = getattr(fit, "own", None)
        if own and not (np.isclose(own["kl"], fit.kl, rtol=1e-9) and np.isclose(own["frob"], fit.frob, rtol=1e-9)):
            notes.append(f"WARNING: nnmf-sweep's own objectives at rank {fit.rank} ({own}) differ from numpy's "
                         f"(kl {fit.kl}, frob {fit.frob})")

    print_table(fits, args, versions, X.shape, c["rank"])
    print("Wall s: nnmf-sweep = the whole process (read, fits, statistics, results.h5, tables, plots); "
          "scikit-learn = its fit_transform calls; R = the nmf() call timed inside R. "
          "KL and Frobenius² are recomputed in numpy from each tool's W and H "
          "(KL = Σ_{x>0} x ln(x/wh) − Σx + Σwh; Frobenius² = Σ(x − wh)²); "
          "the `vs nnmf-sweep` columns compare with nnmf-sweep's fit of the same loss and rank.")
    print()
    for note in notes:
        print(f"- {note}")
    print(f"- load average after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); files in {work}")


if __name__ == "__main__":
    main()
