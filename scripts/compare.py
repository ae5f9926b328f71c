#!/usr/bin/env python3
"""Benchmarks nnmf-sweep against its peers, in one run.

Usage: scripts/compare.py --case issue13 [--only PART,...] [--extras] [--quick] [--tols T,...]
                          [--golub-tols T,...] [--workdir DIR] [--seed S]
       scripts/compare.py --case brunet|medium|large [--threads N] [--workdir DIR] [--seed S]
                          [--r-nrun N] [--r-maxiter N] [--skip-whole | --no-target]

issue13: every target of issue 13, tool after tool, as one Markdown table of speed-ups (peer's
seconds / nnmf-sweep's) with met or not, ready for the README, plus a trace plot. nnmf-sweep runs
whole processes with the default solver (no `solver` key) and writes its own config per run.
Parts (--only picks some, in the order given; the default is all but the extras):
  golub        R NMF's esGolub data (5000 genes x 38 samples, integer counts, read with Rscript from
               the NMF package) in HDF5 as 5000 x 38; nnmf-sweep with `transpose = true` (samples
               are the observations), ranks 2-5, 10 restarts, loss kl, default stop and default
               cross-validation, 2 threads, against nmf(X, 2:5, "brunet", nrun = 10, seed = S,
               .options = "p2") timed inside R. Goal 20x, and every rank's best KL (numpy, from each
               tool's W, H) at most R's x (1 + 1e-4). --golub-tols adds nnmf-sweep runs with those
               [stop] tol values; the fastest run that meets the KL condition counts.
  kl-medium    one rank-10 KL fit of a 5000 x 1000 `simulate` matrix (planted rank 10)
  kl-large     the same at 20000 x 2000, rank 20
  kl-sparse    the same on a 20000 x 5000 CSR count matrix, 5% stored, rank 20 (sparse_bench.py's
               planted(); an HDF5 CSR group for nnmf-sweep, the scipy CSR matrix for scikit-learn)
               KL parts: scikit-learn NMF(solver="mu", beta_loss="kullback-leibler", tol=1e-4,
               init="nndsvda" (its default at these shapes), max_iter=2000), 1 thread. Goal 5x.
  frob-medium  Frobenius, 5000 x 1000, rank 10
  frob-large   Frobenius, 20000 x 2000, rank 20
               Frobenius parts: scikit-learn cd (tol 1e-4, nndsvda) and RcppML nmf (tol 1e-4),
               1 thread; the faster of the two is the peer. Goal 3x.
               One-fit parts: nnmf-sweep runs once per [stop] tol of --tols (default
               1e-3,3e-4,1e-4,3e-5,1e-5,3e-6,1e-6), loosest first, 1 restart, no cross-validation
               (heldout_repeats 0), 1 thread, until a run's loss is at most the peer's
               x (1 + 1e-4); that run's wall time is nnmf-sweep's (a tighter tol continues the
               same fit from the same seed, so a later run would not be faster).
  traces       examples/trace for every solver its usage message lists (so new ones appear),
               KL solvers (names ending in -kl) and Frobenius ones apart, from one random start:
               KL on the kl-medium matrix and on Golub at ranks 3 and 5, Frobenius on the
               kl-medium matrix; loss relative to the best seen (log) against seconds of
               iterations, one line per solver, the peer's loss dashed where a part above measured
               it. Written to docs/img/issue13_traces.png (with --quick: into the workdir).
Extras ("nothing else slower"; --extras, or name them in --only), beside the README's values:
  demo         `simulate` + the configs/demo.toml sweep, as scripts/demo.sh runs them (its setup
               and cargo build are not run: they need no time on a built tree)
  threads      the thread-scaling figure: 48 fits (1000 x 300 planted rank 5, ranks 4-6, 16
               restarts, 300 iterations, tol 0), --threads 1 and 2 in 3 interleaved pairs, medians
  sparse-bench scripts/sparse_bench.py at its defaults: MU-KL seconds per iteration
--quick: small sizes (1000 x 200 r5, 2000 x 400 r8, CSR 2000 x 1000 r8), Golub with 2 restarts,
traces of 3 s, 12 thread-scaling fits, a small sparse_bench: checks the script in a few minutes;
the figures are not the issue's. Every tool run writes a line per rank to <workdir>/issue13-runs.tsv (part,
tool, run, threads, wall seconds, loss, value, rank, iterations, stop), written as it finishes.
Runtime on a shared 2-core machine, all parts: about half an hour (estimated from the issue's per-tool
figures), the extras about 10 minutes more; --quick about 4 minutes.

The older cases:

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
          Then the time-to-target comparison below (--skip-whole: only that; --no-target: not that).
  large   20000 x 2000, planted rank 20: the time-to-target comparison only (R NMF left out: the
          issue's targets name scikit-learn and RcppML, and its runs would take most of an hour).

Time to target (medium and large, one thread for every tool): each peer runs once and its final
loss is recomputed in numpy; then nnmf-sweep's solver runs (examples/trace, built by
`cargo build --release --examples`) until its loss is at or below that, and the table shows the
peer's time, nnmf-sweep's time to reach the peer's loss and their ratio:
  KL         scikit-learn mu (init nndsvda, tol 1e-4, max_iter 2000)
               -> nnmf-sweep mu from nndsvda (the same start: checked, see the notes), and cd
                  from nndsvda in the medium case only (too slow per iteration for the large one)
  Frobenius  scikit-learn cd (init nndsvda, tol 1e-4, max_iter 2000) -> nnmf-sweep hals from nndsvda
             RcppML nmf (its own random start, tol 1e-4) -> nnmf-sweep hals from its random start
nnmf-sweep's time is the init (the SVD for nndsvda) plus the update iterations up to the first
traced iteration at or below the target; objective evaluations for the trace are off the clock.
Traces stop at 5000 iterations or after 150 s (medium) / 240 s (large) of iterations.

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

Needs: target/release/nnmf-sweep and target/release/examples/trace (cargo build --release
--examples; $CARGO_TARGET_DIR is honoured), Python's numpy, h5py, scikit-learn
(threadpoolctl, which scikit-learn depends on, limits its BLAS threads), for issue13 also scipy
and matplotlib (pip install scipy matplotlib), Rscript with the R packages NMF and RcppML. A
missing peer stops the script with a message saying what to install.
Runtime on a shared 2-core machine: brunet about 7 minutes, medium about 12 minutes, large
about 10-15 minutes.
"""
import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
BIN = os.path.join(TARGET, "release", "nnmf-sweep")
TRACE_BIN = os.path.join(TARGET, "release", "examples", "trace")
R_SCRIPT = os.path.join(ROOT, "scripts", "compare_nmf.R")

CASES = {
    "brunet": {"rows": 5000, "cols": 38, "rank": 3, "threads": 2},
    "medium": {"rows": 5000, "cols": 1000, "rank": 10, "threads": 1},
    "large": {"rows": 20000, "cols": 2000, "rank": 20, "threads": 1},
}
BRUNET_RANKS = [2, 3, 4, 5]
MEDIUM_RANK = 10

# Issue 13 (--case issue13)
REL = 1e-4  # a run reaches a peer's loss when its loss is at most the peer's x (1 + REL)
TOL_LADDER = [1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6]
GOLUB_RANKS, GOLUB_THREADS = [2, 3, 4, 5], 2
SINGLE_FIT = {"heldout_repeats": 0, "rule": "cophenetic"}  # no cross-validation fits
# The parts and their goals (peer seconds / nnmf-sweep seconds); data: (rows, cols, rank[, density]).
I13_PARTS = {
    "golub": {"goal": 20, "restarts": 10, "quick_restarts": 2},
    "kl-medium": {"loss": "kl", "goal": 5, "full": (5000, 1000, 10), "quick": (1000, 200, 5)},
    "kl-large": {"loss": "kl", "goal": 5, "full": (20000, 2000, 20), "quick": (2000, 400, 8)},
    "kl-sparse": {"loss": "kl", "goal": 5, "full": (20000, 5000, 20, 0.05), "quick": (2000, 1000, 8, 0.05)},
    "frob-medium": {"loss": "frobenius", "goal": 3, "full": (5000, 1000, 10), "quick": (1000, 200, 5)},
    "frob-large": {"loss": "frobenius", "goal": 3, "full": (20000, 2000, 20), "quick": (2000, 400, 8)},
    "traces": {},
}
I13_EXTRAS = ["demo", "threads", "sparse-bench"]
# The README's previous values of the "nothing else slower" figures, and the noise allowed on them.
PREVIOUS = {
    "demo": 20.0,  # "about 20 s" (2 cores)
    "threads-1": 16.5, "threads-2": 8.2, "threads-speedup": 1.98,  # medians of 3 interleaved pairs
    "nnmf-sweep sparse input, MU-KL f64": 0.116, "nnmf-sweep sparse input, MU-KL f32": 0.062,
    "nnmf-sweep dense input, MU-KL f64": 0.528,
}
NOISE = 0.10
# Traces: objectives every k iterations and the cap on one trace's clock, per panel.
TRACE_PLAN = {"kl-medium": {"every": 5, "max_seconds": 60}, "frob-medium": {"every": 5, "max_seconds": 20},
              "golub": {"every": 2, "max_seconds": 10}, "quick": {"every": 1, "max_seconds": 3}}
TRACE_PNG = os.path.join(ROOT, "docs", "img", "issue13_traces.png")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", required=True, choices=sorted(CASES) + ["issue13"])
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every tool that can use them (default: brunet 2, medium 1; "
                         "issue13 uses the issue's counts and does not take it)")
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
    ap.add_argument("--nnmf-variants", default="mu:f64:1e-6",
                    help="brunet case: nnmf-sweep runs as solver:precision:tol, comma-separated; the first "
                         "is the reference of the ratios (default mu:f64:1e-6)")
    ap.add_argument("--skip-whole", action="store_true",
                    help="medium case: only the time-to-target comparison, not the whole-run table")
    ap.add_argument("--no-target", action="store_true",
                    help="medium case: only the whole-run table, not the time-to-target comparison")
    ap.add_argument("--only", default=None,
                    help="issue13: the parts to run, comma-separated, in that order (default: "
                         + ",".join(I13_PARTS) + "; extras: " + ",".join(I13_EXTRAS) + ")")
    ap.add_argument("--extras", action="store_true",
                    help="issue13: also the 'nothing else slower' figures (" + ",".join(I13_EXTRAS) + ")")
    ap.add_argument("--quick", action="store_true",
                    help="issue13: small sizes and few restarts, to check the script (minutes)")
    ap.add_argument("--tols", default=",".join(f"{t:g}" for t in TOL_LADDER),
                    help="issue13: the [stop] tol ladder of nnmf-sweep's one-fit runs, loosest first "
                         "(default %(default)s)")
    ap.add_argument("--golub-tols", default="",
                    help="issue13: [stop] tol values of extra nnmf-sweep Golub runs beside the default stop")
    args = ap.parse_args()
    if args.case == "issue13":
        if args.threads is not None:
            ap.error("--case issue13 runs the issue's thread counts (Golub 2, the rest 1): leave out --threads")
        args.threads = 1  # scikit-learn's BLAS; the Golub runs pass their 2 threads themselves
        return args
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
    if case == "issue13":
        for module, pip in (("scipy", "scipy"), ("matplotlib", "matplotlib")):
            try:
                __import__(module)
            except ImportError:
                missing.append(f"Python package {module} (pip install {pip}, or apt-get install python3-{pip})")
    try:
        import sklearn
        versions["sklearn"] = sklearn.__version__
    except ImportError:
        missing.append("scikit-learn (pip install scikit-learn)")
    if case in ("medium", "large", "issue13") and not os.access(TRACE_BIN, os.X_OK):
        missing.append(f"trace example {TRACE_BIN} (cargo build --release --example trace)")
    if not os.access(BIN, os.X_OK):
        missing.append(f"nnmf-sweep release binary {BIN} (cargo build --release)")
    else:
        out = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True).stdout
        versions["nnmf-sweep"] = out.strip().split()[-1]
    if shutil.which("Rscript") is None:
        missing.append("Rscript (apt-get install r-base-core), with the R packages NMF and RcppML")
    else:
        r_pkgs = ["NMF"] + (["RcppML"] if case in ("medium", "large", "issue13") else [])
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


def run_nnmf(np, h5py, work, name, loss, solver, ranks, restarts, threads, seed, tool, precision="f64", tol=1e-6):
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
precision = "{precision}"

[sweep]
ranks = {list(ranks)}
restarts = {restarts}
seed = {seed}

[stop]
max_iter = 2000
tol = {tol:g}

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
    settings = (f"{solver}, {precision}, init random, {restarts} restart{'s' if restarts > 1 else ''}"
                f"{'/rank' if len(ranks) > 1 else ''}, max_iter 2000, tol {tol:g}, heldout_repeats 0, "
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


def run_sklearn(np, X, ranks, restarts, threads, solver, beta_loss, loss, tool, init="random"):
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
            model = NMF(n_components=r, solver=solver, beta_loss=beta_loss, init=init,
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
    settings = (f"solver {solver}{', beta_loss ' + beta_loss if solver == 'mu' else ''}, init {init}, "
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


def run_r(np, work, xbin, shape, job, threads, seed, nrun, maxiter, rank=10):
    """Runs one job of compare_nmf.R; returns [(rank, seconds, iterations, W, H)] and the
    Rscript process's own wall time."""
    n, p = shape
    out = os.path.join(work, f"r-{job}-{rank}")
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ)
    # R NMF parallelizes over restarts with its own workers and RcppML with its threads
    # argument; R's BLAS stays single-threaded so nothing is oversubscribed.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = ["Rscript", R_SCRIPT, job, xbin, str(n), str(p), out, str(threads), str(seed), str(nrun), str(maxiter), str(rank)]
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

    for variant in args.nnmf_variants.split(","):
        solver, precision, tol = variant.split(":")
        f, n = run_nnmf(np, h5py, work, f"nnmf-kl-{solver}-{precision}-{tol}", "kl", solver, BRUNET_RANKS, R, t,
                        args.seed, f"nnmf-sweep {v['nnmf-sweep']}", precision, float(tol))
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
# Time to target: how long nnmf-sweep's solvers take to reach the loss a peer stopped at


# Per case: trace granularity (objectives every k iterations) and the cap on one trace's clock.
TARGET_SETTINGS = {"medium": {"every": 1, "max_seconds": 150}, "large": {"every": 5, "max_seconds": 240}}
TRACE_MAX_ITER = 5000


def run_trace(work, h5, solver, rank, init, seed, target, every, max_seconds, tag, precision="f64",
              dataset="X", max_iter=TRACE_MAX_ITER):
    """Runs examples/trace to `target` (None: no target); returns init seconds, rows (iteration,
    seconds, kl, frob) and the stop reason. The trace's clock counts the update iterations only."""
    cmd = [TRACE_BIN, "--data", h5, "--dataset", dataset, "--solver", solver, "--rank", str(rank),
           "--init", init, "--seed", str(seed), "--every", str(every), "--max-iter", str(max_iter),
           "--max-seconds", str(max_seconds), "--precision", precision]
    if target is not None:
        cmd += ["--target", repr(float(target))]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"trace {solver} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    with open(os.path.join(work, f"trace-{tag}.tsv"), "w") as f:
        f.write(res.stdout)
    init_s, rows, stop = None, [], None
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if line.startswith("# init_seconds"):
            init_s = float(parts[1])
        elif line.startswith("# stop"):
            stop = parts[1]
        elif line and not line.startswith("#") and parts[0] != "iteration":
            rows.append((int(parts[0]), float(parts[1]), float(parts[2]), float(parts[3])))
    return init_s, rows, stop


class Target:
    """One peer's run and nnmf-sweep's time to reach the loss it stopped at."""

    def __init__(self, loss, peer, peer_settings, peer_seconds, peer_iters, peer_loss):
        self.loss, self.peer, self.peer_settings = loss, peer, peer_settings
        self.peer_seconds, self.peer_iters, self.peer_loss = peer_seconds, peer_iters, peer_loss
        self.chases = []  # (solver, init, init_s, reached_row or None, last_row, stop)

    def chase(self, work, h5, solver, rank, init, seed, case, tag, precision="f64"):
        ts = TARGET_SETTINGS[case]
        init_s, rows, stop = run_trace(work, h5, solver, rank, init, seed, self.peer_loss, ts["every"],
                                       ts["max_seconds"], tag, precision)
        if precision != "f64":
            solver = f"{solver} {precision}"
        col = 2 if self.loss == "kl" else 3
        hit = next((row for row in rows if row[col] <= self.peer_loss), None)
        self.chases.append((solver, init, init_s, hit, rows[-1], stop, rows[0]))


def sklearn_start_losses(np, X, rank, seed):
    """scikit-learn's own nndsvda start (private helper; None if it moved), for checking that
    both tools start from the same point."""
    try:
        from sklearn.decomposition._nmf import _initialize_nmf
        W, H = _initialize_nmf(X, rank, init="nndsvda", random_state=seed)
        return losses(np, X, W, H)
    except Exception:  # noqa: BLE001 - a diagnostic only
        return None


def case_time_to_target(np, X, h5, work, xbin, args, v, case):
    """Per loss: a peer's single fit (its time and final loss, recomputed in numpy), then nnmf-sweep
    traced until it reaches that loss. One thread for every tool."""
    rank = CASES[case]["rank"]
    seed = args.seed
    sk = f"scikit-learn {v['sklearn']}"
    targets, notes = [], []

    def sk_target(solver, beta, loss):
        (fit,), n = run_sklearn(np, X, [rank], 1, 1, solver, beta, loss, sk, init="nndsvda")
        notes.extend(n)
        kl, frob = losses(np, X, fit.W, fit.H)
        return Target(loss, f"{sk} {solver}", fit.settings, fit.seconds, fit.iterations,
                      kl if loss == "kl" else frob), (kl, frob)

    # KL: scikit-learn mu from nndsvda; nnmf-sweep mu and cd from the same nndsvda start.
    t, _ = sk_target("mu", "kullback-leibler", "kl")
    t.chase(work, h5, "mu-kl", rank, "nndsvda", seed, case, f"{case}-kl-mu")
    t.chase(work, h5, "mu-kl", rank, "nndsvda", seed, case, f"{case}-kl-mu-f32", "f32")
    if case == "medium":
        t.chase(work, h5, "cd-kl", rank, "nndsvda", seed, case, f"{case}-kl-cd")
    else:
        notes.append("nnmf-sweep cd-kl is traced in the medium case only: its scalar Newton sweeps took about "
                     "1.5 s per iteration there, and the work grows with N·p·r (16x here), so it would not reach "
                     "the target within this case's time budget")
    targets.append(t)
    # Frobenius: scikit-learn cd from nndsvda; nnmf-sweep hals from nndsvda.
    t, _ = sk_target("cd", "frobenius", "frobenius")
    t.chase(work, h5, "hals", rank, "nndsvda", seed, case, f"{case}-frob-hals")
    t.chase(work, h5, "hals", rank, "nndsvda", seed, case, f"{case}-frob-hals-f32", "f32")
    targets.append(t)
    # Frobenius: RcppML from its own random start; nnmf-sweep hals from its own random start.
    rows, proc = run_r(np, work, xbin, X.shape, "rcppml", 1, seed, 1, 0, rank)
    (r, seconds, iters, xsum, W, H), = rows
    check_r_sum(np, X, xsum, "rcppml")
    _, frob = losses(np, X, W, H)
    t = Target("frobenius", f"RcppML {v['RcppML']}",
               f"nmf(k = {rank}, tol 1e-4, seed {seed}, its random init; maxit 100), 1 thread",
               seconds, iters, frob)
    t.chase(work, h5, "hals", rank, "random", seed, case, f"{case}-frob-hals-random")
    t.chase(work, h5, "hals", rank, "random", seed, case, f"{case}-frob-hals-random-f32", "f32")
    targets.append(t)
    notes.append(f"RcppML (time-to-target run, rank {rank}): fit call {seconds:.2f} s; Rscript process {proc:.1f} s")

    start = sklearn_start_losses(np, X, rank, 0)
    for t in targets:
        for solver, init, init_s, hit, last, stop, first in t.chases:
            if init == "nndsvda" and start is not None:
                col = 0 if t.loss == "kl" else 1
                rel = (first[2 + col] - start[col]) / start[col]
                notes.append(f"same start check ({solver}, {t.loss}): nnmf-sweep nndsvda loss {first[2 + col]:.10g}, "
                             f"scikit-learn's nndsvda {start[col]:.10g} (relative difference {rel:.1e})")
    notes.append(f"R NMF is left out of the time-to-target comparison: the issue's targets name scikit-learn "
                 f"and RcppML, and its single runs take 150-200 s at 5000 x 1000 r10 (minutes more at 20000 x 2000 r20); "
                 f"the whole-run table of the medium case has it.")
    return targets, notes


def print_targets(targets, case, args, shape):
    n, p = shape
    ts = TARGET_SETTINGS[case]
    print(f"## Time to reach the peer's loss, case `{case}`: X {n} x {p} (planted rank {CASES[case]['rank']}, "
          f"`nnmf-sweep simulate --seed {args.seed}`), rank {CASES[case]['rank']}, 1 thread each")
    print()
    print("| loss | peer | peer settings | peer s | peer iterations | peer loss (numpy) | nnmf-sweep solver, init "
          "| nnmf-sweep s to reach it (init + iterations) | iterations | peer s / nnmf-sweep s "
          "| same, iterations only |")
    print("|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for t in targets:
        first = True
        for solver, init, init_s, hit, last, stop, _ in t.chases:
            head = (f"| {t.loss} | {t.peer} | {t.peer_settings} | {t.peer_seconds:.2f} | {t.peer_iters} | {t.peer_loss:.10g} "
                    if first else "| | 〃 | | | | ")
            first = False
            if hit is None:
                col = 2 if t.loss == "kl" else 3
                print(f"{head}| {solver}, {init} | not reached ({stop}: {last[col]:.10g} after {last[0]} it., "
                      f"{init_s + last[1]:.2f} s) | {last[0]} | < {t.peer_seconds / (init_s + last[1]):.2f} | — |")
            else:
                total = init_s + hit[1]
                print(f"{head}| {solver}, {init} | {total:.2f} ({init_s:.2f} + {hit[1]:.2f}) | {hit[0]} "
                      f"| {t.peer_seconds / total:.2f} | {t.peer_seconds / hit[1]:.2f} |")
    print()
    print(f"peer s: scikit-learn's fit_transform call (its init included), RcppML's nmf() call timed inside R. "
          f"nnmf-sweep: examples/trace, the same data, OpenBLAS 1 thread; its clock counts the update iterations "
          f"only (objectives evaluated every {ts['every']} iteration(s) off the clock, so 'iterations' is the first "
          f"evaluated one at or below the peer's loss); the init (SVD for nndsvda) is timed apart and added. "
          f"Losses: KL and squared Frobenius, one definition (numpy for the peers, nnmf-sweep's own objectives "
          f"for its trace; they agree to 1e-9). A ratio > 1: nnmf-sweep is faster.")
    print()


# ---------------------------------------------------------------------------------------------
# Issue 13: every target in one run (--case issue13)



def toml_text(sections):
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return f"{v:g}" if isinstance(v, float) else str(v)

    lines = ["# written by scripts/compare.py --case issue13"]
    for name, keys in sections.items():
        lines += ["", f"[{name}]"] + [f"{k} = {value(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


class SweepRun:
    """One nnmf-sweep process: its wall time, the solver it chose and the best fit of each rank."""

    def __init__(self, seconds, solver, fits):
        self.seconds, self.solver, self.fits = seconds, solver, fits


class Campaign:
    """The shared state of one issue-13 run: where files go, the rows of the tables, the TSV log."""

    def __init__(self, np, h5py, args, versions, work):
        self.np, self.h5py, self.args, self.v, self.work = np, h5py, args, versions, work
        self.seed, self.quick = args.seed, args.quick
        self.tols = [float(t) for t in args.tols.split(",")]
        self.golub_tols = [float(t) for t in args.golub_tols.split(",")] if args.golub_tols else []
        self.targets, self.extras, self.details = [], [], []
        self.peer_losses = {}  # part -> (peer, {rank: its loss}): the reference lines of the trace plot
        self.tsv = open(os.path.join(work, "issue13-runs.tsv"), "w")
        self.tsv.write("part\ttool\trun\tthreads\twall_s\tloss\tvalue\trank\titerations\tstop\n")

    def record(self, part, tool, run, threads, wall, loss="", value="", rank="", iterations="", stop=""):
        fields = [part, tool, run, threads, f"{wall:.3f}", loss, "" if value == "" else f"{value:.12g}",
                  rank, iterations, stop]
        self.tsv.write("\t".join(str(f) for f in fields) + "\n")
        self.tsv.flush()

    def sweep(self, name, data, model, ranks, restarts, threads, stop=None, selection=None):
        """Writes a config from the given sections (keys left out keep their defaults), runs the
        binary and returns a SweepRun; the wall time is the whole process."""
        sections = {"data": data, "model": model, "sweep": {"ranks": ranks, "restarts": restarts, "seed": self.seed}}
        if stop:
            sections["stop"] = stop
        if selection:
            sections["selection"] = selection
        sections["run"] = {"threads": threads}
        cfg = os.path.join(self.work, f"{name}.toml")
        out = os.path.join(self.work, f"{name}-results")
        with open(cfg, "w") as f:
            f.write(toml_text(sections))
        t0 = time.perf_counter()
        res = subprocess.run([BIN, cfg, "--out", out, "--quiet", "--force"], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if res.returncode != 0:
            die(f"nnmf-sweep {name} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
        fits = {}
        with self.h5py.File(os.path.join(out, "results.h5"), "r") as f:
            solver = _str(f.attrs["solver"])
            for r in ranks:
                g = f[f"rank_{r}"]
                a = g.attrs
                fits[r] = {"W": g["W"][:], "H": g["H"][:], "iterations": int(a["iterations"]),
                           "stop": f"{_str(a['stop_reason'])}; {int(a['converged'])}/{int(a['fits'])} converged",
                           "kl": float(a["kl"]), "frob": float(a["frobenius_sq"])}
        return SweepRun(seconds, solver, fits)

    def planted(self, n, p, r):
        """`nnmf-sweep simulate` counts, written once per shape: (HDF5 path, X, raw file for R)."""
        h5 = os.path.join(self.work, f"x-{n}x{p}-r{r}.h5")
        xbin = h5[:-3] + ".bin"
        if not os.path.exists(xbin):
            subprocess.run([BIN, "simulate", "--out", h5, "--rows", str(n), "--cols", str(p), "--rank", str(r),
                            "--seed", str(self.seed), "--force"], check=True, stdout=subprocess.DEVNULL)
        with self.h5py.File(h5, "r") as f:
            X = self.np.ascontiguousarray(f["X"][:], dtype=self.np.float64)
        if not os.path.exists(xbin):
            X.astype("<f8").tofile(xbin)
        return h5, X, xbin

    def golub(self):
        """R NMF's esGolub (5000 genes x 38 samples, integer counts) as stored by the package, written
        to golub.h5 as X (5000 x 38, int32) and Xt (38 x 5000, float64: the trace's observations as
        rows); returns (HDF5 path, X as float64, raw file for R)."""
        np = self.np
        h5 = os.path.join(self.work, "golub.h5")
        xbin = os.path.join(self.work, "golub.bin")
        if not os.path.exists(xbin):
            raw = os.path.join(self.work, "golub.i4")
            expr = ("suppressPackageStartupMessages(library(NMF)); data(esGolub); x <- exprs(esGolub); "
                    f"stopifnot(storage.mode(x) == 'integer'); writeBin(as.vector(t(x)), '{raw}', size = 4, "
                    "endian = 'little'); cat(dim(x))")
            res = subprocess.run(["Rscript", "-e", expr], capture_output=True, text=True)
            if res.returncode != 0:
                die(f"reading esGolub from R's NMF package failed:\n{res.stderr[-2000:]}")
            n, p = (int(d) for d in res.stdout.split())
            X = np.fromfile(raw, dtype="<i4").reshape(n, p)
            with self.h5py.File(h5, "w") as f:
                f.create_dataset("X", data=X)
                f.create_dataset("Xt", data=X.T.astype(np.float64))
            X.astype("<f8").tofile(xbin)
        with self.h5py.File(h5, "r") as f:
            X = f["X"][:].astype(np.float64)
        return h5, X, xbin

    def target(self, name, peer, peer_s, peer_loss, ours, ours_s, loss_vs_peer, goal, reached):
        """One row of the table: met when nnmf-sweep's loss reached the peer's and the speed-up the goal."""
        ratio = peer_s / ours_s
        self.targets.append({"name": name, "peer": peer, "peer_s": peer_s, "peer_loss": peer_loss, "ours": ours,
                             "ours_s": ours_s, "loss_vs_peer": loss_vs_peer + ("" if reached else " (not reached)"),
                             "ratio": ratio, "goal": goal, "met": reached and ratio >= goal})


def kl_sparse(np, X, W, H):
    """KL divergence of W H from a scipy CSR matrix, from the stored entries only:
    sum_stored [x ln(x / wh) - x] + sum_k (sum_i W_ik)(sum_j H_kj); the same definition as `losses`."""
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    total, chunk = 0.0, 1 << 20
    for s in range(0, X.nnz, chunk):
        i, j, x = rows[s:s + chunk], X.indices[s:s + chunk], X.data[s:s + chunk]
        wh = np.einsum("ij,ij->i", W[i], H[:, j].T)
        pos = x > 0
        total += float(np.sum(x[pos] * np.log(x[pos] / wh[pos])) - x.sum())
    return total + float(W.sum(axis=0) @ H.sum(axis=1))


def _rel_text(value, ref):
    return f"{(value - ref) / ref:+.2e}"


def i13_golub(c):
    """R NMF's Golub survey against nnmf-sweep's defaults (and its --golub-tols runs)."""
    np = c.np
    spec = I13_PARTS["golub"]
    restarts = spec["quick_restarts"] if c.quick else spec["restarts"]
    h5, X, xbin = c.golub()
    rows, proc = run_r(np, c.work, xbin, X.shape, "nmf-brunet-sweep", GOLUB_THREADS, c.seed, restarts, 0)
    r_kl, r_seconds = {}, rows[0][1]
    for r, seconds, iters, xsum, W, H in rows:
        check_r_sum(np, X, xsum, "nmf-brunet-sweep")
        r_kl[r] = losses(np, X, W, H)[0]
        c.record("golub", "R NMF brunet", f"nrun {restarts}", GOLUB_THREADS, seconds, "kl", r_kl[r], r, iters)
    c.peer_losses["golub"] = (f"R NMF brunet, best of nrun {restarts}", r_kl)
    c.details.append(f"golub: R NMF nmf() call {r_seconds:.1f} s (Rscript process {proc:.1f} s); "
                     + ", ".join(f"r{r} KL {r_kl[r]:.10g}" for r in GOLUB_RANKS))
    runs = []
    for tol in [None] + c.golub_tols:
        label = "default stop" if tol is None else f"tol {tol:g}"
        run = c.sweep("golub-" + ("default" if tol is None else f"tol{tol:g}"),
                      {"path": h5, "dataset": "X", "transpose": True}, {"loss": "kl"}, GOLUB_RANKS, restarts,
                      GOLUB_THREADS, stop=None if tol is None else {"tol": tol})
        kls = {r: losses(np, X.T, f["W"], f["H"])[0] for r, f in run.fits.items()}
        worst = max((kls[r] - r_kl[r]) / r_kl[r] for r in GOLUB_RANKS)
        for r, f in run.fits.items():
            c.record("golub", "nnmf-sweep", label, GOLUB_THREADS, run.seconds, "kl", kls[r], r, f["iterations"], f["stop"])
        runs.append((label, run, worst))
        c.details.append(f"golub: nnmf-sweep {label} (solver {run.solver}): {run.seconds:.1f} s; KL vs R per rank "
                         + ", ".join(f"r{r} {_rel_text(kls[r], r_kl[r])}" for r in GOLUB_RANKS))
    ok = [x for x in runs if x[2] <= REL]
    label, run, worst = min(ok, key=lambda x: x[1].seconds) if ok else runs[0]
    c.target(f"Golub survey (5000 x 38 transposed, ranks 2-5, {restarts} restarts, KL, {GOLUB_THREADS} threads; "
             f"default cross-validation)",
             f'R NMF {c.v["NMF"]} brunet, nrun {restarts}, "p{GOLUB_THREADS}"', r_seconds, "per rank",
             f"default solver ({run.solver}), {label}", run.seconds, f"worst rank {worst:+.2e}", spec["goal"],
             reached=bool(ok))


def i13_single(c, part):
    """One fit at one rank: the peer(s) once each, then nnmf-sweep over the tol ladder."""
    np = c.np
    spec = I13_PARTS[part]
    loss = spec["loss"]
    shape = spec["quick" if c.quick else "full"]
    n, p, r = shape[:3]
    sk = f"scikit-learn {c.v['sklearn']}"
    if len(shape) == 4:
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        import sparse_bench
        X = sparse_bench.planted(n, p, shape[3], r, c.seed)
        h5 = os.path.join(c.work, f"csr-{n}x{p}-r{r}.h5")
        sparse_bench.write_csr(X, h5)
        data_text = f"CSR {n} x {p}, {100 * X.nnz / (n * p):.0f}% stored (sparse_bench.planted)"

        def loss_of(W, H):
            return kl_sparse(np, X, W, H)
    else:
        h5, X, xbin = c.planted(n, p, r)
        data_text = f"{n} x {p} (simulate, planted rank {r})"

        def loss_of(W, H):
            return losses(np, X, W, H)[0 if loss == "kl" else 1]

    peers = []
    solvers = [("mu", "kullback-leibler")] if loss == "kl" else [("cd", "frobenius")]
    for solver, beta in solvers:
        (fit,), notes = run_sklearn(np, X, [r], 1, 1, solver, beta, loss, sk, init="nndsvda")
        c.details += [f"{part}: {note}" for note in notes]
        peers.append((f"{sk} {solver}, tol 1e-4", fit.seconds, loss_of(fit.W, fit.H), fit.iterations, fit.stop))
    if loss == "frobenius":
        (rr, seconds, iters, xsum, W, H), = run_r(np, c.work, xbin, X.shape, "rcppml", 1, c.seed, 1, 0, r)[0]
        check_r_sum(np, X, xsum, "rcppml")
        peers.append((f"RcppML {c.v['RcppML']}, tol 1e-4", seconds, loss_of(W, H), iters, ""))
    for name, seconds, value, iters, stop in peers:
        c.record(part, name, "", 1, seconds, loss, value, r, iters, stop)
    peer, peer_s, peer_loss = min(peers, key=lambda x: x[1])[:3]
    c.peer_losses[part] = (f"{peer} (its own start)", {r: peer_loss})
    goal_loss = peer_loss * (1 + REL)

    runs, hit = [], None
    for tol in c.tols:
        run = c.sweep(f"{part}-tol{tol:g}", {"path": h5, "dataset": "X"}, {"loss": loss}, [r], 1, 1,
                      stop={"tol": tol}, selection=SINGLE_FIT)
        f = run.fits[r]
        value = loss_of(f["W"], f["H"])
        own = f["kl" if loss == "kl" else "frob"]
        if not np.isclose(own, value, rtol=1e-9):
            c.details.append(f"WARNING {part}: nnmf-sweep's own {loss} {own!r} differs from numpy's {value!r}")
        c.record(part, "nnmf-sweep", f"tol {tol:g}", 1, run.seconds, loss, value, r, f["iterations"], f["stop"])
        runs.append((tol, run, value, f["iterations"]))
        if value <= goal_loss:
            hit = runs[-1]
            break
    c.details.append(f"{part}: peers " + "; ".join(f"{nm} {s:.2f} s, {loss} {v:.10g} ({it} it.)"
                                                   for nm, s, v, it, _ in peers)
                     + ". nnmf-sweep ladder: " + "; ".join(f"tol {t:g} {run.seconds:.2f} s ({it} it., {run.solver}) "
                                                           f"{_rel_text(v, peer_loss)}" for t, run, v, it in runs))
    name = f"{'KL' if loss == 'kl' else 'Frobenius'} one fit, {data_text}, rank {r}, 1 thread"
    if hit is None:
        tol, run, value, _ = min(runs, key=lambda x: x[2])
        c.target(name, peer, peer_s, peer_loss, f"not reached by tol {c.tols[-1]:g}; closest tol {tol:g}",
                 run.seconds, _rel_text(value, peer_loss), spec["goal"], reached=False)
    else:
        tol, run, value, _ = hit
        loosest = " (the loosest tried: a looser one may be faster)" if tol == c.tols[0] else ""
        c.target(name, peer, peer_s, peer_loss, f"default solver ({run.solver}), tol {tol:g}{loosest}",
                 run.seconds, _rel_text(value, peer_loss), spec["goal"], reached=True)


def trace_solvers():
    """The solvers examples/trace knows, from its usage message (so new ones appear here)."""
    res = subprocess.run([TRACE_BIN], capture_output=True, text=True)
    m = re.search(r"--solver ([\w|-]+)", res.stderr)
    if not m:
        die(f"cannot find the solver list in the trace example's usage message:\n{res.stderr}")
    return m.group(1).split("|")


def i13_traces(c):
    """Every solver of each loss traced from one random start; one PNG, a panel per case."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    solvers = trace_solvers()
    kl_solvers = [s for s in solvers if s.endswith("-kl")]
    frob_solvers = [s for s in solvers if not s.endswith("-kl")]
    n, p, r = I13_PARTS["kl-medium"]["quick" if c.quick else "full"]
    h5, _, _ = c.planted(n, p, r)
    golub_h5, _, _ = c.golub()
    def plan(panel):
        return TRACE_PLAN["quick" if c.quick else panel]


    def ref(part, rank):
        name, by_rank = c.peer_losses.get(part, (None, {}))
        return by_rank.get(rank), name

    panels = [  # title, file, dataset, rank, solvers, loss, plan, peer's loss and its label
        (f"KL, {n} x {p}, rank {r}", h5, "X", r, kl_solvers, "kl", plan("kl-medium"), *ref("kl-medium", r)),
        ("KL, Golub 38 x 5000, rank 3", golub_h5, "Xt", 3, kl_solvers, "kl", plan("golub"), *ref("golub", 3)),
        ("KL, Golub 38 x 5000, rank 5", golub_h5, "Xt", 5, kl_solvers, "kl", plan("golub"), *ref("golub", 5)),
        (f"Frobenius, {n} x {p}, rank {r}", h5, "X", r, frob_solvers, "frobenius", plan("frob-medium"),
         *ref("frob-medium", r)),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    for ax, (title, path, dataset, rank, names, loss, pl, ref, ref_label) in zip(axes.flat, panels):
        col = 2 if loss == "kl" else 3
        curves = {}
        for solver in names:
            tag = f"i13-{os.path.basename(path)[:-3]}-{dataset}-r{rank}-{solver}"
            init_s, rows, stop = run_trace(c.work, path, solver, rank, "random", c.seed, None, pl["every"],
                                           pl["max_seconds"], tag, dataset=dataset, max_iter=100000)
            curves[solver] = rows
            c.record("traces", f"trace {solver}", title, 1, init_s + rows[-1][1], loss, rows[-1][col], rank,
                     rows[-1][0], stop)
        best = min(row[col] for rows in curves.values() for row in rows)
        for solver, rows in curves.items():
            pts = [(row[1], (row[col] - best) / best) for row in rows if row[col] > best]
            if pts:
                ax.plot(*zip(*pts), label=f"{solver} ({rows[-1][0]} it.)")
        if ref is not None and ref > best:
            ax.axhline((ref - best) / best, color="grey", linestyle="--", label=ref_label)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("seconds (iterations only; same random start, seed %d)" % c.seed)
        ax.set_ylabel("(loss − best seen) / best seen")
        ax.legend(fontsize=8)
    fig.suptitle(f"nnmf-sweep {c.v['nnmf-sweep']} solvers (examples/trace), 1 thread")
    fig.tight_layout()
    png = os.path.join(c.work, "issue13_traces.png") if c.quick else TRACE_PNG
    os.makedirs(os.path.dirname(png), exist_ok=True)
    fig.savefig(png, dpi=100)
    c.details.append(f"traces: solvers {', '.join(solvers)} (from the trace example's usage); plot {png}")


def i13_demo(c):
    """The demo's sweep (scripts/demo.sh less its setup and build): simulate, then configs/demo.toml."""
    d = os.path.join(c.work, "demo")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "configs", "demo.toml"), d)
    t0 = time.perf_counter()
    subprocess.run([BIN, "simulate", "--out", os.path.join(d, "demo.h5"), "--rows", "300", "--cols", "200",
                    "--rank", "4", "--seed", "1", "--force"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([BIN, os.path.join(d, "demo.toml"), "--force", "--quiet"], check=True)
    seconds = time.perf_counter() - t0
    c.record("demo", "nnmf-sweep", "configs/demo.toml", "all", seconds)
    c.extras.append(("demo (simulate + configs/demo.toml sweep, all cores), s", PREVIOUS["demo"], seconds, False))


def i13_threads(c):
    """The README's thread-scaling figure: 48 fits (1000 x 300, ranks 4-6, 16 restarts, 300
    iterations each) with 1 and 2 threads, interleaved pairs; the medians. Solver "mu", as when
    the previous figure was measured (it was the KL default then): a fixed number of iterations
    of another solver would measure that solver's cost per iteration, not the thread scaling."""
    np = c.np
    restarts, pairs = (4, 1) if c.quick else (16, 3)
    h5, _, _ = c.planted(1000, 300, 5)
    secs = {1: [], 2: []}
    for i in range(pairs):
        for t in (1, 2):
            run = c.sweep(f"threads-{t}-{i}", {"path": h5, "dataset": "X"}, {"loss": "kl", "solver": "mu"}, [4, 5, 6],
                          restarts, t,
                          stop={"max_iter": 300, "tol": 0}, selection=SINGLE_FIT)
            secs[t].append(run.seconds)
            c.record("threads", "nnmf-sweep", f"pair {i} ({run.solver})", t, run.seconds)
    one, two = float(np.median(secs[1])), float(np.median(secs[2]))
    what = f"{3 * restarts} fits 1000 x 300, ranks 4-6, 300 iterations of mu"
    c.extras.append((f"{what}, --threads 1, s (median of {pairs})", PREVIOUS["threads-1"], one, c.quick))
    c.extras.append((f"{what}, --threads 2, s (median of {pairs})", PREVIOUS["threads-2"], two, c.quick))
    c.extras.append(("thread speedup 2 vs 1 (higher is better)", PREVIOUS["threads-speedup"], one / two, c.quick))


def i13_sparse_bench(c):
    """scripts/sparse_bench.py (its defaults, or a small matrix with --quick); seconds per iteration."""
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "sparse_bench.py"), "--bin", BIN,
           "--out", os.path.join(c.work, "sparse-bench")]
    if c.quick:
        cmd += ["--n", "2000", "--p", "1000", "--rank", "8", "--iters", "10"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        die(f"sparse_bench.py failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    c.details += [f"sparse-bench: {line}" for line in res.stdout.splitlines() if line.startswith("#")]
    for line in res.stdout.splitlines():
        cells = [x.strip() for x in line.strip("|").split("|")]
        if line.startswith("| nnmf-sweep"):
            c.extras.append((f"sparse_bench: {cells[0]}, s / iteration", PREVIOUS.get(cells[0]), float(cells[1]),
                             c.quick))
        elif line.startswith("| scikit-learn"):
            c.details.append(f"sparse-bench: {cells[0]}: {float(cells[1]):.4f} s / iteration (the peer, for context)")


def print_issue13(c, parts):
    print(f"## Issue 13 targets ({'QUICK: small sizes, not the issue figures; ' if c.quick else ''}"
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)")
    print()
    print("```sh\nscripts/compare.py " + " ".join(sys.argv[1:]) + "\n```")
    print()
    v = c.v
    print(f"nnmf-sweep {v['nnmf-sweep']}, scikit-learn {v['sklearn']}, R NMF {v['NMF']}, RcppML {v['RcppML']} "
          f"(R {v['R']}), Python {platform.python_version()}, numpy {_np_version()}. Parts run: {', '.join(parts)}.")
    print()
    if c.targets:
        print("| target | peer | peer s | peer loss | nnmf-sweep run | nnmf-sweep s | loss vs peer | speed-up | goal "
              "| met? |")
        print("|---|---|---:|---:|---|---:|---:|---:|---:|---|")
        for t in c.targets:
            loss = t["peer_loss"] if isinstance(t["peer_loss"], str) else f"{t['peer_loss']:.10g}"
            print(f"| {t['name']} | {t['peer']} | {t['peer_s']:.2f} | {loss} | {t['ours']} | {t['ours_s']:.2f} "
                  f"| {t['loss_vs_peer']} | {t['ratio']:.2f}x | ≥ {t['goal']}x | {'**yes**' if t['met'] else '**no**'} |")
        print()
        print(f"Seconds: nnmf-sweep = the whole process (read, fits, statistics, writing results), default solver; "
              f"scikit-learn = its fit_transform call; R = the nmf() call timed inside R. Losses recomputed in numpy "
              f"from each tool's W and H (KL = Σ_(x>0) x ln(x/wh) − Σx + Σwh; Frobenius² = Σ(x − wh)²); `loss vs peer` "
              f"is (nnmf-sweep − peer) / peer, negative where nnmf-sweep's is lower. One-fit "
              f"targets: nnmf-sweep runs with [stop] tol {', '.join(f'{t:g}' for t in c.tols)}, loosest first, and "
              f"the first run whose loss is at most the peer's x (1 + {REL:g}) counts (a tighter tol continues the "
              f"same fit from the same seed, so it is not faster); the peer is the faster one where there are two. "
              f"Golub: every rank's best KL at most R's x (1 + {REL:g}), the fastest such run counts.")
        print()
    if c.extras:
        print("| nothing else slower | previous (README) | now | now / previous | not slower? |")
        print("|---|---:|---:|---:|---|")
        for name, prev, now, quick in c.extras:
            higher_better = "speedup" in name
            if prev is None:
                print(f"| {name} | — | {now:.3f} | — | — |")
                continue
            ok = now >= prev * (1 - NOISE) if higher_better else now <= prev * (1 + NOISE)
            verdict = "— (quick sizes)" if quick else ("**yes**" if ok else "**no**")
            print(f"| {name} | {prev:g} | {now:.3f} | {now / prev:.2f} | {verdict} |")
        print()
        print(f"Not slower: within {NOISE:.0%} of the previous value (noise on a shared 2-core machine).")
        print()
    for line in c.details:
        print(f"- {line}")
    print(f"- per-tool wall times and losses: {os.path.join(c.work, 'issue13-runs.tsv')}; "
          f"load average after: {os.getloadavg()[0]:.2f}")


def issue13(args, versions):
    import numpy as np
    import h5py

    parts = args.only.split(",") if args.only else [p for p in I13_PARTS] + (I13_EXTRAS if args.extras else [])
    unknown = [p for p in parts if p not in I13_PARTS and p not in I13_EXTRAS]
    if unknown:
        die(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(list(I13_PARTS) + I13_EXTRAS)}")
    work = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="nnmf-compare-issue13-"))
    os.makedirs(work, exist_ok=True)
    print(f"working folder: {work}; load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    c = Campaign(np, h5py, args, versions, work)
    run = {"golub": i13_golub, "traces": i13_traces, "demo": i13_demo, "threads": i13_threads,
           "sparse-bench": i13_sparse_bench}
    for part in parts:  # in the order given: one tool at a time
        print(f"[{time.strftime('%H:%M:%S')}] {part}", file=sys.stderr)
        if part in run:
            run[part](c)
        else:
            i13_single(c, part)
    print_issue13(c, parts)


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
    # With several nnmf-sweep runs of a loss (--nnmf-variants), the first one is the reference.
    ref_run, ref_fit = {}, {}
    for fit in fits:
        if fit.tool.startswith("nnmf-sweep"):
            ref_run.setdefault(fit.loss, fit)
            ref_fit.setdefault((fit.loss, fit.rank), fit)
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
    if args.case == "issue13":
        return issue13(args, versions)
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

    fits, notes = [], []
    if args.case == "brunet":
        fits, notes = case_brunet(np, h5py, X, work, xbin, args, versions)
    elif args.case == "medium" and not args.skip_whole:
        fits, notes = case_medium(np, h5py, X, work, xbin, args, versions)
    targets = None
    if args.case == "large" or (args.case == "medium" and not args.no_target):
        targets, tnotes = case_time_to_target(np, X, h5, work, xbin, args, versions, args.case)
        notes += tnotes

    # One loss definition for every tool, from the factors it returned.
    for fit in fits:
        fit.kl, fit.frob = losses(np, X, fit.W, fit.H)
        own = getattr(fit, "own", None)
        if own and not (np.isclose(own["kl"], fit.kl, rtol=1e-9) and np.isclose(own["frob"], fit.frob, rtol=1e-9)):
            notes.append(f"WARNING: nnmf-sweep's own objectives at rank {fit.rank} ({own}) differ from numpy's "
                         f"(kl {fit.kl}, frob {fit.frob})")

    if fits:
        print_table(fits, args, versions, X.shape, c["rank"])
        print("Wall s: nnmf-sweep = the whole process (read, fits, statistics, results.h5, tables, plots); "
              "scikit-learn = its fit_transform calls; R = the nmf() call timed inside R. "
              "KL and Frobenius² are recomputed in numpy from each tool's W and H "
              "(KL = Σ_{x>0} x ln(x/wh) − Σx + Σwh; Frobenius² = Σ(x − wh)²); "
              "the `vs nnmf-sweep` columns compare with nnmf-sweep's fit of the same loss and rank.")
        print()
    if targets:
        print_targets(targets, args.case, args, X.shape)
    for note in notes:
        print(f"- {note}")
    print(f"- load average after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); files in {work}")


if __name__ == "__main__":
    main()
