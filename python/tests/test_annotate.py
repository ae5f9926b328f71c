"""nnmf_sweep._anndata.annotate, on sweeps the real CLI writes.

The CLI binary is $NNMF_SWEEP_BIN, else target/release/nnmf-sweep under the repository root;
without it every test here fails (never skips) with a message saying how to provide it.
Run: scripts/test_python.sh
(or PYTHONPATH=python python3 -m pytest python/tests after maturin develop)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest

from nnmf_sweep._anndata import annotate
from nnmf_sweep._result import load
from support import simulate, sweep_dir

N, P, PLANTED = 60, 40, 3
ZERO_ROW = 5


# -- fixtures: tiny sweeps by the real binary ----------------------------------------------


def planted_x(folder: Path) -> np.ndarray:
    with h5py.File(simulate(folder, N, P, PLANTED), "r") as f:
        return f["X"][()].astype(np.float32)


def named_adata(x: np.ndarray) -> ad.AnnData:
    return ad.AnnData(
        x.copy(),
        obs=pd.DataFrame(index=[f"cell{i}" for i in range(x.shape[0])]),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(x.shape[1])]),
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(directory, X): ranks 2-4 of planted rank-3 counts without names, rule "default"."""
    folder = tmp_path_factory.mktemp("planted")
    x = planted_x(folder)
    return sweep_dir(folder, "sim.h5", [2, 3, 4], 4, "heldout_repeats = 2"), x


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """(directory, X): an .h5ad with names and an all-zero row, consensus solution."""
    folder = tmp_path_factory.mktemp("named")
    x = planted_x(folder)
    x[ZERO_ROW, :] = 0
    named_adata(x).write_h5ad(folder / "sim.h5ad")
    out = sweep_dir(
        folder,
        "sim.h5ad",
        [2, 3],
        3,
        'rule = "cophenetic"\nheldout_repeats = 0\nsolution = "consensus"',
        dataset=False,
    )
    return out, x


@pytest.fixture(scope="module")
def unchosen(tmp_path_factory):
    """(directory, X): one restart per rank, so no rank is chosen."""
    folder = tmp_path_factory.mktemp("unchosen")
    x = planted_x(folder)
    return sweep_dir(folder, "sim.h5", [2, 3], 1, 'rule = "cophenetic"\nheldout_repeats = 0'), x


def soft(w: np.ndarray) -> np.ndarray:
    s = w.sum(axis=1, keepdims=True)
    return np.divide(w, s, out=np.zeros_like(w), where=s > 0)


def same(a, b) -> bool:
    """Equal values, NaN equal to NaN; arrays of str compared as lists."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":
        return a.shape == b.shape and [str(v) for v in a.ravel()] == [str(v) for v in b.ravel()]
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


# -- what annotate writes ------------------------------------------------------------------


def test_annotate_writes_the_documented_keys(planted):
    out, x = planted
    r = load(out)
    adata = ad.AnnData(x.copy())
    assert annotate(adata, r) is None  # in place
    rank = r.chosen_rank
    w, h = r.factors()
    assert np.array_equal(adata.obsm["nnmf_W"], w)
    assert adata.obsm["nnmf_W"].shape == (N, rank)
    assert adata.varm["nnmf_H"].shape == (P, rank)
    assert np.array_equal(adata.varm["nnmf_H"], h.T)
    m = adata.obsm["nnmf_memberships"]
    assert m.shape == (N, rank)
    assert np.allclose(m.sum(axis=1), 1.0, atol=1e-12)
    assert (m >= 0).all()
    table = r.memberships()
    assert np.allclose(m, table[[f"component_{k}" for k in range(1, rank + 1)]], atol=1e-12)
    label = adata.obs["nnmf_label"]
    assert isinstance(label.dtype, pd.CategoricalDtype)
    assert np.array_equal(label.astype(int).to_numpy(), table["label"].to_numpy())
    assert np.array_equal(label.astype(int).to_numpy(), r.labels())
    assert list(label.cat.categories) == list(range(1, rank + 1))

    uns = adata.uns["nnmf"]
    assert uns["rank"] == rank == PLANTED
    assert uns["chosen_rank"] == r.chosen_rank and uns["runner_up"] == r.runner_up
    assert uns["chosen_by"] == r.chosen_by
    assert uns["selection_rule"] == "default"
    assert list(uns["reasons"]) == r.reasons and len(r.reasons) > 0
    assert uns["directory"] == str(out.resolve())
    assert uns["solution"] == "best"
    assert (uns["loss"], uns["solver"], uns["seed"]) == (
        r.attrs["loss"],
        r.attrs["solver"],
        r.attrs["seed"],
    )
    assert list(uns["summary"]) == list(r.summary.columns)
    for column, values in uns["summary"].items():
        assert isinstance(values, np.ndarray) and len(values) == len(r.ranks)
        assert same(values, r.summary[column].to_numpy()), column


def test_annotate_other_rank_and_key(planted):
    out, x = planted
    r = load(out)
    adata = ad.AnnData(x.copy())
    annotate(adata, r, rank=2, key="two")
    assert adata.obsm["two_W"].shape == (N, 2) and adata.varm["two_H"].shape == (P, 2)
    assert adata.uns["two"]["rank"] == 2 and adata.uns["two"]["chosen_rank"] == PLANTED
    assert "nnmf" not in adata.uns and "nnmf_W" not in adata.obsm


def test_annotate_names_zero_rows_and_the_consensus_solution(named):
    out, x = named
    r = load(out)
    adata = named_adata(x)
    annotate(adata, r)  # the solution the tables use: consensus
    w, h = r.consensus_factors()
    assert adata.uns["nnmf"]["solution"] == "consensus"
    assert np.array_equal(adata.obsm["nnmf_W"], w)
    assert np.array_equal(adata.varm["nnmf_H"], h.T)
    table = r.memberships()
    assert np.array_equal(adata.obs["nnmf_label"].astype(int).to_numpy(), table["label"])
    assert np.allclose(
        adata.obsm["nnmf_memberships"],
        table[[c for c in table if c.startswith("component_")]],
        atol=1e-12,
    )
    # the all-zero observation: label 0, memberships 0, a category of its own
    assert adata.obs["nnmf_label"].iloc[ZERO_ROW] == 0
    assert (adata.obsm["nnmf_memberships"][ZERO_ROW] == 0).all()
    assert list(adata.obs["nnmf_label"].cat.categories) == [0, 1, 2, 3]
    rows = np.arange(N) != ZERO_ROW
    assert np.allclose(adata.obsm["nnmf_memberships"][rows].sum(axis=1), 1.0, atol=1e-12)
    # the best restart on request
    annotate(adata, r, key="best", solution="best")
    assert np.array_equal(adata.obsm["best_W"], r.factors()[0])
    assert np.allclose(adata.obsm["best_memberships"], soft(r.factors()[0]))
    assert adata.uns["best"]["solution"] == "best"


def test_annotate_without_a_chosen_rank(unchosen):
    out, x = unchosen
    r = load(out)
    adata = ad.AnnData(x.copy())
    with pytest.raises(ValueError, match=r"no rank was chosen.*2, 3"):
        annotate(adata, r)
    assert "nnmf" not in adata.uns and len(adata.obsm) == 0  # nothing written
    annotate(adata, r, rank=3)
    uns = adata.uns["nnmf"]
    assert uns["rank"] == 3 and uns["chosen_rank"] == -1 and uns["runner_up"] == -1
    assert all(v == -1 for v in uns["chosen_by"].values())


# -- h5ad round trip -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["planted", "named", "unchosen"])
def test_annotations_survive_write_and_read_h5ad(which, request, tmp_path):
    out, x = request.getfixturevalue(which)
    r = load(out)
    adata = named_adata(x) if which == "named" else ad.AnnData(x.copy())
    annotate(adata, r, rank=r.chosen_rank or 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata.write_h5ad(tmp_path / "a.h5ad")
        back = ad.read_h5ad(tmp_path / "a.h5ad")
    for key in ("nnmf_W", "nnmf_memberships"):
        assert np.array_equal(back.obsm[key], adata.obsm[key]), key
    assert np.array_equal(back.varm["nnmf_H"], adata.varm["nnmf_H"])
    assert isinstance(back.obs["nnmf_label"].dtype, pd.CategoricalDtype)
    assert back.obs["nnmf_label"].tolist() == adata.obs["nnmf_label"].tolist()
    assert list(back.obs["nnmf_label"].cat.categories) == list(
        adata.obs["nnmf_label"].cat.categories
    )
    before, after = adata.uns["nnmf"], back.uns["nnmf"]
    assert set(after) == set(before)
    for k, v in before.items():
        if k == "summary":
            assert set(after[k]) == set(v)
            for column, values in v.items():
                assert same(after[k][column], values), column
        elif k == "chosen_by":
            assert {a: int(b) for a, b in after[k].items()} == v
        elif k == "reasons":
            assert [str(s) for s in after[k]] == list(v)
        else:
            assert after[k] == v, k


# -- mismatched AnnData ----------------------------------------------------------------------


def test_wrong_shape_is_refused(planted):
    out, x = planted
    r = load(out)
    with pytest.raises(ValueError, match=r"59 x 40.*60 x 40"):
        annotate(ad.AnnData(x[:-1].copy()), r)
    with pytest.raises(ValueError, match=r"60 x 39.*60 x 40"):
        annotate(ad.AnnData(x[:, :-1].copy()), r)
    with pytest.raises(ValueError, match=r"transposed"):
        annotate(ad.AnnData(x.T.copy()), r)


def test_reordered_or_other_names_are_refused(named):
    out, x = named
    r = load(out)
    adata = named_adata(x)
    order = np.r_[1, 0, 2:N]
    swapped = adata[order].copy()
    pattern = r"obs_names.*at 2 of 60 positions.*position 0.*'cell1'.*'cell0'.*reorder"
    with pytest.raises(ValueError, match=pattern):
        annotate(swapped, r)
    assert "nnmf" not in swapped.uns and len(swapped.obsm) == 0  # nothing written
    with pytest.raises(ValueError, match=r"var_names.*reorder"):
        annotate(adata[:, ::-1].copy(), r)
    other = adata.copy()
    other.obs_names = [f"x{i}" for i in range(N)]
    with pytest.raises(ValueError, match=r"60 of the sweep's observations are not in adata"):
        annotate(other, r)
    # the suggested fix works
    fixed = swapped[r.obs_names].copy()
    annotate(fixed, r)
    assert fixed.obsm["nnmf_W"].shape == (N, r.chosen_rank)


def test_names_anndata_made_up_are_not_compared(named):
    out, x = named
    adata = ad.AnnData(x.copy())  # obs_names "0", "1", ...
    annotate(adata, load(out))
    assert adata.obsm["nnmf_W"].shape == (N, 3)


def test_bad_solution_arguments(planted, named):
    out, x = planted
    with pytest.raises(ValueError, match="no consensus solution"):
        annotate(ad.AnnData(x.copy()), load(out), solution="consensus")
    with pytest.raises(ValueError, match="solution must be"):
        annotate(ad.AnnData(x.copy()), load(out), solution="median")
    with pytest.raises(ValueError, match=r"rank 9 is not in the sweep.*2, 3, 4"):
        annotate(ad.AnnData(x.copy()), load(out), rank=9)
