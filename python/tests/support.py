"""What the tests share: the real command line, run on files in a test's folder (planted data
written by its simulate, tiny sweeps of it), and planted Poisson data in memory.

The CLI binary is $NNMF_SWEEP_BIN, else target/release/nnmf-sweep under the repository root;
without it a test that needs it fails (never skips) with a message saying how to provide it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def cli() -> Path:
    """The nnmf-sweep binary."""
    env = os.environ.get("NNMF_SWEEP_BIN")
    path = Path(env) if env else REPO / "target" / "release" / "nnmf-sweep"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"the nnmf-sweep binary is not at {path}: build it (cargo build --release) or set "
            f"NNMF_SWEEP_BIN to an nnmf-sweep executable",
            pytrace=False,
        )
    return path


def run_cli(*args: object, cwd: Path, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    """Runs ``nnmf-sweep ARGS`` in ``cwd``; fails the test unless it exits with a code in ``ok``."""
    proc = subprocess.run(
        [str(cli()), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if proc.returncode not in ok:
        pytest.fail(
            f"nnmf-sweep {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}",
            pytrace=False,
        )
    return proc


def planted(n: int = 60, p: int = 40, r: int = 3, seed: int = 0) -> np.ndarray:
    """Poisson counts (n x p, float64) of rank r: mean 4 W H with Gamma(0.5) W and H."""
    rng = np.random.default_rng(seed)
    w = rng.gamma(0.5, 1.0, (n, r))
    h = rng.gamma(0.5, 1.0, (r, p))
    return rng.poisson(4.0 * w @ h).astype(np.float64)


def simulate(folder: Path, rows: int, cols: int, rank: int) -> Path:
    """``nnmf-sweep simulate`` (seed 1) into ``folder/sim.h5``; returns its path."""
    run_cli(
        "simulate", "--out", "sim.h5", "--rows", rows, "--cols", cols, "--rank", rank,
        "--seed", 1, "--force", cwd=folder,
    )  # fmt: skip
    return folder / "sim.h5"


def sweep_dir(
    folder: Path,
    data: str,
    ranks: list[int],
    restarts: int,
    selection: str,
    extra_args: tuple = (),
    dataset: bool = True,
) -> Path:
    """A tiny sweep (seed 1, 200 iterations, one thread) of ``folder/data`` by the command line,
    with ``selection`` as the [selection] section's body; returns its output directory."""
    (folder / "sweep.toml").write_text(
        f'[data]\npath = "{data}"\n'
        + ('dataset = "X"\n' if dataset else "")
        + f"[sweep]\nranks = {ranks}\nrestarts = {restarts}\nseed = 1\n"
        "[stop]\nmax_iter = 200\n"
        f"[selection]\n{selection}\n"
        '[output]\ndir = "out"\n[run]\nthreads = 1\n'
    )
    run_cli(folder / "sweep.toml", "--quiet", *extra_args, cwd=folder)
    return folder / "out"
