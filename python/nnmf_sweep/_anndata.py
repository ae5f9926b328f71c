"""Putting a sweep's factors into an AnnData object, as scanpy's tools do.

:func:`annotate` writes one rank's factorization X ≈ W H into ``adata`` in place: W and the
memberships per observation (``obsm``, ``obs``), H per feature (``varm``, transposed, in the
orientation of scanpy's ``varm["PCs"]``), and the decision and summary table (``uns``). Every
value it writes survives ``write_h5ad`` / ``read_h5ad``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._result import Result

if TYPE_CHECKING:  # anndata is needed only by the caller, who passes an AnnData
    import anndata

__all__ = ["annotate"]

#: What ``uns[key]["chosen_rank"]`` / ``["runner_up"]`` / ``["chosen_by"][rule]`` hold when no
#: rank was chosen: h5ad files written by older anndata versions cannot hold None, and an int
#: keeps the entry's type fixed.
NONE_RANK = -1


def _default_names(names: Sequence[str], n: int) -> bool:
    """AnnData's own names for an object built without any: "0", "1", ..."""
    return len(names) == n and all(str(v) == str(i) for i, v in enumerate(names))


def _check_names(kind: str, ours: list[str] | None, theirs: pd.Index) -> None:
    """Names of the result and of adata, when both have them, must be equal in order."""
    if ours is None or _default_names(list(theirs), len(theirs)):
        return
    theirs_list = [str(v) for v in theirs]
    if theirs_list == ours:
        return
    if len(theirs_list) != len(ours):  # the shapes agreed: results.h5's names are damaged
        raise ValueError(
            f"the sweep's {kind}_names hold {len(ours)} names for {len(theirs_list)} "
            f"{'observations' if kind == 'obs' else 'features'}: its results.h5 is damaged"
        )
    differ = [i for i, (a, b) in enumerate(zip(theirs_list, ours, strict=True)) if a != b]
    i = differ[0]
    what = "observations" if kind == "obs" else "features"
    message = (
        f"adata.{kind}_names differ from the sweep's {kind}_names: they differ at {len(differ)} "
        f"of {len(ours)} positions, the first at position {i} (adata: {theirs_list[i]!r}, "
        f"sweep: {ours[i]!r})"
    )
    missing = len(set(ours) - set(theirs_list))
    if missing == 0:
        message += (
            f"; the names are the same, in another order: reorder adata first, e.g. "
            f"adata = adata[result.{kind}_names].copy()"
            if kind == "obs"
            else f"; the names are the same, in another order: reorder adata first, e.g. "
            f"adata = adata[:, result.{kind}_names].copy()"
        )
    else:
        message += (
            f"; {missing} of the sweep's {what} are not in adata: this AnnData holds other "
            f"data than the sweep fitted"
        )
    raise ValueError(message)


def _row_memberships(w: np.ndarray) -> np.ndarray:
    """Rows of W scaled to sum 1; all-zero rows stay 0."""
    s = w.sum(axis=1, keepdims=True)
    return np.divide(w, s, out=np.zeros_like(w), where=s > 0)


def _row_labels(w: np.ndarray) -> np.ndarray:
    """1-based component of each row's largest entry (the first of equal ones), 0 for an
    all-zero row; as the ``label`` column of memberships_rank_<r>.tsv."""
    labels = np.argmax(w, axis=1).astype(np.int64) + 1
    labels[~(w > 0).any(axis=1)] = 0
    return labels


def _summary_dict(summary: pd.DataFrame) -> dict[str, np.ndarray]:
    """summary.tsv as column -> 1-D array; text columns as str arrays with "NA" kept as
    written (an object array holding NaN cannot be written to h5ad)."""
    out: dict[str, np.ndarray] = {}
    for column in summary.columns:
        values = summary[column]
        if values.dtype == object:
            out[str(column)] = np.array(
                ["NA" if pd.isna(v) else str(v) for v in values], dtype=object
            )
        else:
            out[str(column)] = values.to_numpy()
    return out


def _as_rank(value: int | None) -> int:
    return NONE_RANK if value is None else int(value)


def annotate(
    adata: anndata.AnnData,
    result: Result,
    rank: int | None = None,
    key: str = "nnmf",
    solution: str | None = None,
) -> None:
    """Write one rank of a sweep into ``adata``, in place (returns None, as scanpy's tools).

    ``adata`` must hold the sweep's data: N observations (rows of X as fitted, after
    ``transpose``) and p features, in the same order.

    Writes (r: the rank; N = ``adata.n_obs``, p = ``adata.n_vars``):

    - ``adata.obsm[f"{key}_W"]``: W, float64 N x r;
    - ``adata.obsm[f"{key}_memberships"]``: the rows of W scaled to sum 1 (all-zero rows stay
      0), float64 N x r;
    - ``adata.obs[f"{key}_label"]``: categorical of ints, the 1-based component of each row's
      largest W entry, 0 for an all-zero row (``label`` of memberships_rank_<r>.tsv);
    - ``adata.varm[f"{key}_H"]``: Hᵀ, float64 p x r (features are rows, as ``varm["PCs"]``);
    - ``adata.uns[key]``: a dict with ``rank``, ``chosen_rank`` and ``runner_up`` (-1 when
      none), ``chosen_by`` (rule -> rank, -1 for none), ``selection_rule``, ``reasons``
      (array of str), ``solution`` (``"best"`` or ``"consensus"``: which W and H were
      written), ``directory`` (str), ``loss``, ``solver``, ``seed``, and ``summary``
      (summary.tsv as a dict of column -> array; "NA" text kept, missing numbers NaN).

    Args:
        adata: the AnnData to annotate (a view becomes a copy, as anndata does on any write).
        result: a :class:`~nnmf_sweep._result.Result` (from ``load``).
        rank: the rank to write; None (default): the chosen rank.
        key: prefix of the keys written (default ``"nnmf"``).
        solution: ``"best"``: the best restart's W and H (:meth:`Result.factors`);
            ``"consensus"``: the consensus solution (:meth:`Result.consensus_factors`; an
            error when the sweep has none for this rank); None (default): the one the
            program's memberships tables use, i.e. the consensus solution when the sweep
            computed one for this rank (``[selection] solution = "consensus"``), else the best.

    Raises:
        ValueError: no rank chosen and ``rank`` None; a rank not in the sweep; ``adata``'s N or
            p unlike the sweep's; observation (feature) names of both that differ in order
            (names AnnData made up, "0", "1", ..., are not compared); an unknown
            ``solution``, or ``"consensus"`` without one.
    """
    if solution not in (None, "best", "consensus"):
        raise ValueError(f"solution must be 'best', 'consensus' or None, not {solution!r}")
    r = result._rank(rank)
    consensus = result.consensus_factors(r) if solution in (None, "consensus") else None
    if solution == "consensus" and consensus is None:
        raise ValueError(
            f"rank {r} of the sweep in {result.directory} has no consensus solution (run it with "
            f'[selection] solution = "consensus"); use solution="best"'
        )
    if consensus is not None:
        w, h = consensus
        used = "consensus"
    else:
        w, h = result.factors(r)
        used = "best"

    n, p = w.shape[0], h.shape[1]
    if adata.n_obs != n or adata.n_vars != p:
        raise ValueError(
            f"adata is {adata.n_obs} x {adata.n_vars} (observations x features) but the sweep in "
            f"{result.directory} fitted {n} x {p}"
            + (
                " (transposed: adata.T?)"
                if (adata.n_obs, adata.n_vars) == (p, n) and n != p
                else ""
            )
        )
    _check_names("obs", result.obs_names, adata.obs_names)
    _check_names("var", result.var_names, adata.var_names)

    labels = _row_labels(w)
    categories = list(range(0 if (labels == 0).any() else 1, r + 1))
    attrs = result.attrs
    uns: dict[str, Any] = {
        "rank": int(r),
        "chosen_rank": _as_rank(result.chosen_rank),
        "runner_up": _as_rank(result.runner_up),
        "chosen_by": {rule: _as_rank(v) for rule, v in result.chosen_by.items()},
        "selection_rule": result.selection_rule,
        "reasons": np.array([str(x) for x in result.reasons], dtype=object),
        "solution": used,
        "directory": str(result.directory),
        "loss": str(attrs.get("loss", "")),
        "solver": str(attrs.get("solver", "")),
        "seed": int(attrs.get("seed", 0)),
        "summary": _summary_dict(result.summary),
    }

    # Everything is checked and computed: write.
    adata.obsm[f"{key}_W"] = np.ascontiguousarray(w, dtype=np.float64)
    adata.obsm[f"{key}_memberships"] = _row_memberships(w)
    adata.obs[f"{key}_label"] = pd.Categorical(labels, categories=categories)
    adata.varm[f"{key}_H"] = np.ascontiguousarray(h.T, dtype=np.float64)
    adata.uns[key] = uns
