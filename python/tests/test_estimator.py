"""NMFSweep, the scikit-learn estimator: scikit-learn's own estimator checks, a pipeline, and
agreement with nnmf_sweep.sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

import nnmf_sweep as ns
from nnmf_sweep import NMFSweep
from support import planted


# Small sweeps so that the ~40 checks run in seconds (each check fits several times).
@parametrize_with_checks([NMFSweep(ranks=[1, 2], restarts=2, seed=1, max_iter=200, threads=1)])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_fit_keeps_the_chosen_rank_of_the_sweep(tmp_path: Path) -> None:
    x = planted()
    est = NMFSweep(ranks=[2, 3, 4], restarts=4, seed=3, max_iter=300, out=tmp_path / "est").fit(x)
    direct = ns.sweep(
        x, ranks=[2, 3, 4], restarts=4, seed=3, max_iter=300, loss="kl", out=tmp_path / "direct"
    )
    assert est.n_components_ == direct.chosen_rank == est.chosen_rank_
    _, h = direct.factors()
    assert np.array_equal(est.components_, h)
    assert est.n_features_in_ == x.shape[1]
    w = est.transform(x)
    assert w.shape == (x.shape[0], est.n_components_) and (w >= 0).all()
    # W solved with H fixed is at least as good as the fit's own W (convex in W for fixed H).
    w_fit, _ = direct.factors()

    def kl(w: np.ndarray) -> float:
        lam = w @ h
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(x > 0, x * np.log(x / lam), 0.0)
        return float((t - x + lam).sum())

    assert kl(w) <= kl(w_fit) * (1 + 1e-9)
    # n_components overrides the chosen rank; get/set_params and clone work.
    est2 = clone(est).set_params(n_components=4, out=None).fit(x)
    assert est2.components_.shape == (4, x.shape[1])
    assert est2.get_params()["n_components"] == 4


def test_consensus_solution_transform_uses_the_same_h(tmp_path: Path) -> None:
    x = planted()
    est = NMFSweep(
        n_components=3,
        ranks=[3],
        restarts=4,
        seed=2,
        max_iter=300,
        out=tmp_path / "c",
        options={"solution": "consensus"},
    ).fit(x)
    consensus = est.result_.consensus_factors(3)
    assert consensus is not None
    # components_ is the consensus H, the one the projection holds fixed.
    assert np.array_equal(est.components_, consensus[1])
    assert not np.array_equal(est.components_, est.result_.factors(3)[1])
    w = est.transform(x)
    # The projection is optimal for components_: no worse than the consensus W under KL.

    def kl(w: np.ndarray) -> float:
        lam = w @ est.components_
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(x > 0, x * np.log(x / lam), 0.0)
        return float((t - x + lam).sum())

    assert kl(w) <= kl(consensus[0]) * (1 + 1e-9)


def test_transform_refuses_a_directory_another_fit_replaced(tmp_path: Path) -> None:
    x = planted()
    a = NMFSweep(ranks=[2, 3], restarts=2, seed=1, max_iter=200, out=tmp_path / "same").fit(x)
    a.transform(x[:3])
    NMFSweep(ranks=[2, 3], restarts=2, seed=9, max_iter=200, out=tmp_path / "same").fit(x)
    with pytest.raises(ns.OutputError, match="no longer the one this estimator was fitted on"):
        a.transform(x[:3])


def test_pipeline_and_bad_input() -> None:
    x = planted()
    pipe = make_pipeline(FunctionTransformer(np.round), NMFSweep(ranks=[2, 3], restarts=2, seed=1))
    w = pipe.fit_transform(x)
    assert w.shape[0] == x.shape[0]
    with pytest.raises(ValueError, match="Negative values"):
        NMFSweep(ranks=[2]).fit(-x)
