"""What the tests share: the real command line, run on files in a test's folder, and planted
Poisson data.

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
