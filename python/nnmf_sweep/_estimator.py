"""``NMFSweep``: the sweep as a scikit-learn estimator (``fit``, ``transform``, ``fit_transform``,
``inverse_transform``, ``get_params``/``set_params``), for pipelines and model selection."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data

from ._api import _rank_list, project, sweep
from ._errors import OutputError
from ._result import Result

__all__ = ["NMFSweep"]


def _projected_h(result: Result, rank: int) -> np.ndarray:
    """The H (r x p) that projection holds fixed: the consensus H when the sweep made one
    (``solution = "consensus"``), else the best fit's, as ``nnmf-sweep project`` takes it."""
    _, h = result.consensus_factors(rank) or result.factors(rank)
    return h


class NMFSweep(TransformerMixin, BaseEstimator):
    """Non-negative matrix factorization X ≈ W H with the rank chosen by a sweep.

    ``fit(X)`` runs ``nnmf_sweep.sweep`` over ``ranks`` with ``restarts`` random restarts each
    and keeps the best-likelihood fit of the chosen rank (or of ``n_components`` when set);
    ``transform(X)`` solves W (N x r) for new observations with H fixed (the projection of
    ``nnmf-sweep project``: convex per row, so it does not depend on a starting point).

    Parameters:
        ranks: ranks to sweep; ``None``: 2 up to min(7, N - 1, p) (or just 1 on tiny data).
        restarts: random restarts per rank.
        loss: ``"kl"`` (Poisson likelihood) or ``"frobenius"``.
        solver, seed, max_iter, tol: the config keys of the same names (``None``: defaults).
        n_components: keep this rank instead of the chosen one (it is added to the sweep).
        threads: worker threads (``None``: all cores); results do not depend on it.
        out: output directory of the sweep (``None``: a new temporary directory per fit).
        options: other ``sweep()`` options (``{"heldout_repeats": 3, ...}``).

    Attributes (after ``fit``):
        components_: H, r x p (the rows are the parts).
        n_components_: r, the chosen rank (or ``n_components``).
        chosen_rank_: the rank the sweep chose (``None`` when none could be chosen).
        result_: the sweep's :class:`~nnmf_sweep.Result` (every statistic, every fit).
        reconstruction_err_: the best fit's objective of ``loss`` (KL or squared Frobenius).
        n_iter_: its iterations.
        n_features_in_: p.
    """

    def __init__(
        self,
        ranks: Iterable[int] | None = None,
        restarts: int = 10,
        loss: str = "kl",
        solver: str | None = None,
        seed: int | None = None,
        max_iter: int | None = None,
        tol: float | None = None,
        n_components: int | None = None,
        threads: int | None = None,
        out: str | os.PathLike[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.ranks = ranks
        self.restarts = restarts
        self.loss = loss
        self.solver = solver
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol
        self.n_components = n_components
        self.threads = threads
        self.out = out
        self.options = options

    def _ranks(self, n: int, p: int) -> list[int]:
        if self.ranks is not None:
            ranks = sorted(set(_rank_list(self.ranks)))
        else:
            top = min(7, n - 1, p)
            ranks = list(range(2, top + 1)) if top >= 2 else [1]
        if self.n_components is not None and int(self.n_components) not in ranks:
            ranks = sorted({*ranks, int(self.n_components)})
        return ranks

    def _validate(self, X: Any, reset: bool) -> Any:
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=reset)
        check_non_negative(X, f"{type(self).__name__} (input X)")
        return X

    def fit(self, X: Any, y: Any = None) -> NMFSweep:
        """Runs the sweep on X (N x p, non-negative; dense or SciPy sparse) and keeps the
        factors of the chosen rank."""
        X = self._validate(X, reset=True)
        n, p = X.shape
        result = sweep(
            X,
            ranks=self._ranks(n, p),
            restarts=self.restarts,
            loss=self.loss,
            out=self.out,
            threads=self.threads,
            force=self.out is not None,
            solver=self.solver,
            seed=self.seed,
            max_iter=self.max_iter,
            tol=self.tol,
            **dict(self.options or {}),
        )
        rank = self.n_components if self.n_components is not None else result.chosen_rank
        if rank is None:
            # No rank could be chosen (e.g. one restart per rank): the best-likelihood fit of
            # the smallest rank swept, and the reason is in result_.reasons.
            rank = min(result.ranks)
        h = _projected_h(result, int(rank))
        row = result.summary.loc[result.summary["rank"] == int(rank)].iloc[0]
        self.result_: Result = result
        self.chosen_rank_ = result.chosen_rank
        self.n_components_ = int(rank)
        self.components_ = h
        self.reconstruction_err_ = float(row["kl" if self.loss == "kl" else "frobenius_sq"])
        self.n_iter_ = int(row["iterations"])
        return self

    def transform(self, X: Any) -> np.ndarray:
        """W (N x r) of X with H = ``components_`` fixed, under the sweep's loss."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        # The projection reads H from the output directory: refuse it when another fit has
        # replaced that sweep since (a fixed `out` fitted again).
        if not np.array_equal(_projected_h(self.result_, self.n_components_), self.components_):
            raise OutputError(
                f"{self.result_.directory}: the sweep there is no longer the one this estimator "
                "was fitted on (its H changed: another fit with the same out=); fit it again, or "
                "give each estimator its own out"
            )
        return project(self.result_, X, rank=self.n_components_)

    def inverse_transform(self, W: Any) -> np.ndarray:
        """W H: the data a W (N x r) stands for."""
        check_is_fitted(self)
        return np.asarray(W, dtype=np.float64) @ self.components_

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        tags.requires_fit = True
        return tags
