"""nnmf-sweep for Python: non-negative matrix factorization sweeps over ranks and restarts.

The same Rust library as the ``nnmf-sweep`` command line, in process (no second
implementation): the same checks, output directory and bits.

- :func:`run` runs a TOML config like ``nnmf-sweep CONFIG``;
- :func:`sweep` runs on a numpy array, a SciPy sparse matrix or an AnnData in memory;
- :func:`load` reads any finished output directory as a :class:`Result` (numpy arrays and
  pandas DataFrames: ``chosen_rank``, ``summary``, ``fits``, ``factors(r)``,
  ``memberships(r)``, ``reasons``);
- :func:`project` scores new observations against a finished sweep's components;
- :func:`annotate` writes a result into an AnnData (``obsm``, ``varm``, ``obs``, ``uns``);
- :class:`NMFSweep` is the scikit-learn estimator (needs scikit-learn).

Errors are :class:`NnmfSweepError` subclasses carrying the CLI's message and exit code.
"""

from __future__ import annotations

from . import _native
from ._anndata import annotate
from ._api import OPTIONS, SweepWarning, project, run, sweep
from ._errors import (
    ConfigError,
    DataError,
    IncompleteError,
    InternalError,
    Interrupted,
    NnmfSweepError,
    NumericalError,
    OutputError,
    error_for,
)
from ._result import Result, load

__version__ = _native.version()

__all__ = [
    "run",
    "sweep",
    "load",
    "project",
    "annotate",
    "NMFSweep",
    "Result",
    "OPTIONS",
    "SweepWarning",
    "NnmfSweepError",
    "InternalError",
    "ConfigError",
    "DataError",
    "OutputError",
    "NumericalError",
    "IncompleteError",
    "Interrupted",
    "error_for",
]


def __getattr__(name: str):
    # The estimator imports scikit-learn, which the rest of the package does not need.
    if name == "NMFSweep":
        from ._estimator import NMFSweep

        return NMFSweep
    raise AttributeError(f"module 'nnmf_sweep' has no attribute {name!r}")
