"""``run``, ``sweep`` and ``project``: the command line's sweep and projection, called in process.

Both sweeps go through the same Rust code as ``nnmf-sweep CONFIG`` (``app::run_plan``): same
checks, same output directory, same bits for the same config and data. The GIL is released while
they run; Ctrl-C stops them as SIGINT stops the CLI (finished fits kept, a second call with the
same arguments and ``out`` resumes) and raises :class:`~nnmf_sweep.Interrupted`.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
import os
import operator
import pathlib
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from . import _native
from ._errors import ConfigError, Interrupted, error_for
from ._result import Result, load

__all__ = ["run", "sweep", "project", "SweepWarning", "OPTIONS"]


class SweepWarning(UserWarning):
    """A warning of the sweep (all-zero rows left out, an over-complete rank, ...): what the CLI
    prints as ``warning: ...``."""


#: ``sweep()``'s keyword options: option -> (config section, key). Everything a config file can
#: set except ``[data]`` (the matrix is passed in) and ``[output] dir`` (``out=``).
OPTIONS: dict[str, tuple[str, str]] = {
    "loss": ("model", "loss"),
    "solver": ("model", "solver"),
    "init": ("model", "init"),
    "precision": ("model", "precision"),
    "l1_w": ("model", "l1_w"),
    "l1_h": ("model", "l1_h"),
    "l2_w": ("model", "l2_w"),
    "l2_h": ("model", "l2_h"),
    "ranks": ("sweep", "ranks"),
    "restarts": ("sweep", "restarts"),
    "seed": ("sweep", "seed"),
    "resample": ("sweep", "resample"),
    "max_iter": ("stop", "max_iter"),
    "tol": ("stop", "tol"),
    "check_every": ("stop", "check_every"),
    "stop_rule": ("stop", "rule"),
    "stationary_checks": ("stop", "stationary_checks"),
    "selection_rule": ("selection", "rule"),
    "solution": ("selection", "solution"),
    "consensus_max_mb": ("selection", "consensus_max_mb"),
    "heldout_fraction": ("selection", "heldout_fraction"),
    "heldout_repeats": ("selection", "heldout_repeats"),
    "null_restarts": ("selection", "null_restarts"),
    "memory_limit_mb": ("run", "memory_limit_mb"),
    "reference": ("report", "reference"),
}


def _raise_native(e: Exception, note: str = "") -> None:
    """Re-raises a ``_native.NativeError(exit_code, message, interrupted)`` as the package's
    exception of that exit code (``note`` appended to the message)."""
    code, message, interrupted = e.args
    if interrupted:
        raise Interrupted(message + note) from None
    raise error_for(code, message + note) from None


def _rank_list(ranks: Iterable[Any]) -> list[int]:
    """The ranks as ints; a fractional or non-numeric rank is refused, not truncated."""
    try:
        return [operator.index(r) for r in ranks]
    except TypeError:
        raise ConfigError(
            f"ranks={ranks!r}: every rank must be an integer (e.g. ranks=range(2, 8))"
        ) from None


def _settle_temporary(tmp: pathlib.Path | None, out: pathlib.Path) -> str:
    """After a failed sweep into a temporary directory: removes it when it holds no finished
    fit; otherwise keeps it (nothing finished is thrown away) and returns a note naming it."""
    if tmp is None:
        return ""
    if any((out / "records").glob("*.rec")):
        return (
            f" (its finished fits are kept in the temporary directory {out}:"
            f" pass out={str(out)!r} to resume)"
        )
    shutil.rmtree(tmp, ignore_errors=True)
    return ""


def _finish(ret: tuple[str, bool, list[str]]) -> Result | None:
    out, merged, warned = ret
    for w in warned:
        warnings.warn(w, SweepWarning, stacklevel=3)
    return load(out) if merged else None


def run(
    config_path: str | os.PathLike[str],
    threads: int | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    shard: str | None = None,
    progress: bool = False,
) -> Result | None:
    """Runs (or resumes) the sweep of a TOML config exactly as ``nnmf-sweep CONFIG`` does.

    Args:
        config_path: the config file (relative paths inside it start at its folder).
        threads: worker threads, overriding ``[run] threads`` (0: all cores); results do not
            depend on it.
        out: output directory, overriding ``[output] dir``.
        force: discard results already in the output directory (``--force``).
        shard: ``"I/N"``: run only that shard of the grid and do not merge (``--shard``); by
            default taken from a Slurm array task's environment, as the CLI does.
        progress: show the CLI's progress display on stderr.

    Returns:
        The :class:`Result` of the output directory, or ``None`` for a shard (its fits are
        stored; merge with ``nnmf-sweep merge DIR`` once every shard has finished).

    Raises:
        NnmfSweepError: the subclass of the CLI's exit code, with its message.
    """
    try:
        ret = _native.run_config(
            os.fspath(config_path),
            threads=threads,
            out=None if out is None else os.fspath(out),
            force=force,
            shard=shard,
            progress=progress,
        )
    except _native.NativeError as e:
        _raise_native(e)
    return _finish(ret)


def _toml_value(name: str, v: Any) -> str:
    """One option's value as TOML (int, float, bool, str, or a list of ints for ``ranks``)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, (str, os.PathLike)):
        return json.dumps(os.fspath(v))
    if isinstance(v, Iterable):
        return "[" + ", ".join(_toml_value(name, x) for x in v) + "]"
    raise ConfigError(
        f"sweep() argument {name}={v!r}: expected a number, a string or a list of ranks, "
        f"got {type(v).__name__}"
    )


def config_text(options: Mapping[str, Any]) -> str:
    """The TOML config of ``sweep()``'s keyword options (``None`` values left to the defaults);
    an unknown option is a :class:`ConfigError` naming the closest valid one."""
    sections: dict[str, list[str]] = {}
    for name, value in options.items():
        if name not in OPTIONS:
            close = difflib.get_close_matches(name, OPTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"sweep(): unknown option {name!r}{hint} (valid options: {', '.join(OPTIONS)})"
            )
        if value is None:
            continue
        section, key = OPTIONS[name]
        if name == "ranks" and isinstance(value, numbers.Integral):
            value = [value]
        sections.setdefault(section, []).append(f"{key} = {_toml_value(name, value)}")
    lines = ["# written by nnmf_sweep.sweep() from its arguments", "[data]", 'path = "(in memory)"']
    for section, entries in sections.items():
        lines.append(f"[{section}]")
        lines.extend(entries)
    return "\n".join(lines) + "\n"


def _is_anndata(x: Any) -> bool:
    return type(x).__name__ == "AnnData" and hasattr(x, "layers") and hasattr(x, "obs_names")


def _names(index: Any) -> list[str]:
    return [str(v) for v in index]


def matrix_input(
    x: Any, layer: str | None = None
) -> tuple[Any, str, list[str] | None, list[str] | None]:
    """What ``_native`` takes for ``x``: a 2-D float64/float32 numpy array (passed as is, read in
    place by the Rust side whatever its strides), or the CSR parts ``((N, p), indptr, indices,
    data)`` of a SciPy sparse matrix (kept sparse); with the label naming it in messages and the
    observation and feature names it carries (AnnData, pandas DataFrame)."""
    obs = var = None
    label = "numpy array"
    if _is_anndata(x):
        if x.isbacked:
            raise ConfigError(
                "sweep(): a backed AnnData (read with backed='r') is not read here; load it with "
                "adata.to_memory(), or run a config whose [data] path names the .h5ad file"
            )
        obs, var = _names(x.obs_names), _names(x.var_names)
        if layer is None:
            label, x = "AnnData X", x.X
        else:
            if layer not in x.layers:
                raise error_for(
                    3,
                    f"AnnData: no layer {layer!r}; its layers are: "
                    f"{', '.join(x.layers) or '(none)'}",
                )
            label, x = f"AnnData layer {layer!r}", x.layers[layer]
        if x is None:
            raise error_for(3, f"{label} is empty (None); pass layer= to use a layer")
    elif layer is not None:
        raise ConfigError("sweep(): layer= applies to AnnData input only")
    elif type(x).__name__ == "DataFrame" and hasattr(x, "columns"):
        if not isinstance(x.index, _range_index()):
            obs = _names(x.index)
        var = _names(x.columns)
        label, x = "DataFrame", x.to_numpy()
    if _is_sparse(x):
        if label == "numpy array":
            label = "scipy.sparse matrix"
        if x.format != "csr":
            x = x.tocsr()  # CSC/COO/...: one conversion, as CSR is what the Rust side holds
        if not x.has_canonical_format:
            x = x.copy()
            x.sum_duplicates()  # sorted, unique column indices per row
        data = x.data
        if data.dtype not in (np.float64, np.float32):
            data = data.astype(np.float64)
        return ((int(x.shape[0]), int(x.shape[1])), x.indptr, x.indices, data), label, obs, var
    a = np.asarray(x)
    if a.ndim != 2:
        raise error_for(
            3,
            f"{label}: expected a 2-D matrix (N observations x p features), "
            f"got {a.ndim} dimensions",
        )
    if a.dtype not in (np.float64, np.float32):
        if not (
            np.issubdtype(a.dtype, np.integer)
            or np.issubdtype(a.dtype, np.bool_)
            or np.issubdtype(a.dtype, np.floating)
        ):
            raise error_for(3, f"{label}: expected numbers, got dtype {a.dtype}")
        a = a.astype(np.float64)  # integer counts: one conversion to float64
    return a, label, obs, var


def _range_index() -> type:
    import pandas as pd

    return pd.RangeIndex


def _is_sparse(x: Any) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:
        return False
    return sp.issparse(x)


def sweep(
    X: Any,
    ranks: Iterable[int] | int,
    restarts: int | None = None,
    loss: str | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    layer: str | None = None,
    missing: str | None = None,
    threads: int | None = None,
    force: bool = False,
    progress: bool = False,
    **options: Any,
) -> Result:
    """Sweeps ranks and restarts on a matrix in memory, as ``nnmf-sweep CONFIG`` would on a file.

    Args:
        X: N x p, observations as rows: a numpy array (float64 or float32 read in place, any
            other numeric dtype converted once to float64), a pandas DataFrame (its index and
            columns become the names), a SciPy sparse matrix (kept sparse: CSR as is, other
            formats converted to CSR once), or an AnnData (``X`` or ``layers[layer]``, with its
            ``obs_names`` and ``var_names``).
        ranks: the ranks to sweep (a list, a ``range`` or one int).
        restarts: random restarts per rank (``[sweep] restarts``).
        loss: ``"kl"`` (Poisson likelihood, the default) or ``"frobenius"``.
        out: output directory; by default a new temporary directory (``result.directory``),
            removed when the returned Result is garbage-collected (kept, and named in the
            message, when the sweep fails after storing fits).
        layer: the AnnData layer to use instead of ``X``.
        missing: ``"nan"``: NaN entries are missing values, left out of the fits.
        threads: worker threads (0 or None: all cores); results do not depend on it.
        force: discard results already in ``out``.
        progress: show the progress display on stderr.
        **options: any other config key by its name, e.g. ``solver="cd"``, ``seed=7``,
            ``max_iter=500``, ``tol=1e-6``, ``selection_rule="heldout"``, ``heldout_repeats=3``,
            ``solution="consensus"`` (see ``nnmf_sweep.OPTIONS`` and the README's config
            reference).

    Returns:
        The :class:`Result`. The config written from the arguments is in ``result.config``.

    Raises:
        NnmfSweepError: with the CLI's message and exit code (bad option: ``ConfigError``; bad
            values in X: ``DataError``; ...). Ctrl-C raises :class:`Interrupted`.
    """
    if isinstance(ranks, range) or not isinstance(ranks, numbers.Integral):
        ranks = _rank_list(ranks)
    text = config_text({"ranks": ranks, "restarts": restarts, "loss": loss, **options})
    if missing not in (None, "nan"):
        raise ConfigError(
            f'sweep(): missing={missing!r}: the only value is "nan" (NaN entries are missing)'
        )
    x, label, obs, var = matrix_input(X, layer)
    tmp = None
    if out is None:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="nnmf-sweep-"))
        out = tmp / "results"
    try:
        ret = _native.sweep(
            text,
            x,
            label,
            os.fspath(out),
            obs_names=obs,
            var_names=var,
            missing=missing == "nan",
            threads=threads,
            force=force,
            progress=progress,
        )
    except BaseException as e:
        note = _settle_temporary(tmp, pathlib.Path(out))
        if isinstance(e, _native.NativeError):
            _raise_native(e, note)
        raise
    result = _finish(ret)
    assert result is not None  # sweep() never runs a shard
    if tmp is not None:
        # The temporary directory lives as long as the Result that reads it.
        weakref.finalize(result, shutil.rmtree, tmp, True)
    return result


def project(result: Result | str | os.PathLike[str], X: Any, rank: int | None = None) -> np.ndarray:
    """New observations scored against a finished sweep's components without refitting
    (``nnmf-sweep project``): H (r x p) of ``rank`` (default: the chosen rank) held fixed, W_new
    (N_new x r, returned) solved under the sweep's loss and W penalties. Features are matched by
    name when both the sweep and ``X`` (DataFrame, AnnData) have names, else by position."""
    directory = result.directory if isinstance(result, Result) else pathlib.Path(result)
    x, label, _, var = matrix_input(X)
    try:
        w, _rank, _loss, _explained, _matched, _missing = _native.project(
            os.fspath(directory), x, label, rank=rank, var_names=var
        )
    except _native.NativeError as e:
        _raise_native(e)
    return w
