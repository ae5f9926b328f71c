"""nnmf_sweep._result.load and nnmf_sweep._errors, on output directories the real CLI writes.

The CLI binary is $NNMF_SWEEP_BIN, else target/release/nnmf-sweep under the repository root;
without it every test here fails (never skips) with a message saying how to provide it.
Run: scripts/test_python.sh
(or PYTHONPATH=python python3 -m pytest python/tests after maturin develop)
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from nnmf_sweep._errors import (
    ConfigError,
    DataError,
    IncompleteError,
    InternalError,
    NnmfSweepError,
    NumericalError,
    OutputError,
    error_for,
)
from nnmf_sweep._result import Result, load
from support import run_cli, simulate, sweep_dir

N, P, PLANTED = 60, 40, 3


# -- fixtures: tiny sweeps by the real binary (each well under a second) -------------------


def write_h5ad(folder: Path) -> Path:
    """The planted data as an .h5ad with obs/var names and one all-zero observation (row 5)."""
    import anndata as ad

    x = h5py.File(simulate(folder, N, P, PLANTED), "r")["X"][()].astype(np.float32)
    x[5, :] = 0
    adata = ad.AnnData(
        x,
        obs=pd.DataFrame(index=[f"cell{i}" for i in range(N)]),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(P)]),
    )
    adata.write_h5ad(folder / "sim.h5ad")
    return folder / "sim.h5ad"


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """Ranks 2-4 of planted rank-3 counts (no names), rule "default" with 2 held-out repeats."""
    folder = tmp_path_factory.mktemp("planted")
    simulate(folder, N, P, PLANTED)
    return sweep_dir(folder, "sim.h5", [2, 3, 4], 4, "heldout_repeats = 2")


@pytest.fixture(scope="module")
def named(tmp_path_factory) -> Path:
    """An .h5ad with names and an all-zero row; rule "cophenetic", consensus solution."""
    folder = tmp_path_factory.mktemp("named")
    write_h5ad(folder)
    return sweep_dir(
        folder,
        "sim.h5ad",
        [2, 3],
        3,
        'rule = "cophenetic"\nheldout_repeats = 0\nsolution = "consensus"',
        dataset=False,
    )


@pytest.fixture(scope="module")
def unchosen(tmp_path_factory) -> Path:
    """One restart per rank: no cophenetic correlation, so no rank is chosen."""
    folder = tmp_path_factory.mktemp("unchosen")
    simulate(folder, N, P, PLANTED)
    return sweep_dir(folder, "sim.h5", [2, 3], 1, 'rule = "cophenetic"\nheldout_repeats = 0')


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> Path:
    """Shard 0 of 3 of the planted sweep, not merged: fits stored, no results.h5."""
    folder = tmp_path_factory.mktemp("sharded")
    simulate(folder, N, P, PLANTED)
    return sweep_dir(
        folder, "sim.h5", [2, 3, 4], 4, "heldout_repeats = 2", extra_args=("--shard", "0/3")
    )


@pytest.fixture(scope="module")
def partial(sharded, tmp_path_factory) -> Path:
    """A copy of the shard's directory merged with --allow-partial."""
    out = tmp_path_factory.mktemp("partial") / "out"
    shutil.copytree(sharded, out, ignore=shutil.ignore_patterns(".nnmf-sweep-lock"))
    run_cli("merge", out, "--allow-partial", "--quiet", cwd=out.parent)
    return out


ALL = ["planted", "named", "unchosen", "partial"]


@pytest.fixture(params=ALL)
def any_dir(request) -> Path:
    return request.getfixturevalue(request.param)


def header(path: Path) -> list[str]:
    return path.read_text().splitlines()[0].split("\t")


def plain(value) -> bool:
    """Only Python's own types, recursively (no numpy scalars or arrays, no bytes)."""
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return type(value) in (str, int, float, bool)


# -- load --------------------------------------------------------------------------------


def test_load_reads_the_decision_as_the_h5_stores_it(any_dir):
    r = load(any_dir)
    assert isinstance(r, Result)
    assert r.directory == any_dir.resolve()
    with h5py.File(any_dir / "results.h5", "r") as f:
        chosen = int(f.attrs["chosen_rank"])
        runner = int(f.attrs["runner_up"])
        rule = f.attrs["selection_rule"]
        rules = {k[10:]: int(v) for k, v in f.attrs.items() if k.startswith("chosen_by_")}
        groups = sorted(int(k[5:]) for k in f if k.startswith("rank_"))
    assert r.chosen_rank == (chosen or None)
    assert r.runner_up == (runner or None)
    assert r.selection_rule == rule
    assert r.chosen_by == {k: (v or None) for k, v in rules.items()}
    assert r.chosen_by[r.selection_rule] == r.chosen_rank
    assert r.ranks == groups
    # The reasons are those selection.txt lists, in order, and there is at least one.
    listed = [
        ln[4:]
        for ln in (any_dir / "selection.txt").read_text().splitlines()
        if ln.startswith("  - ")
    ]
    assert r.reasons == listed and len(r.reasons) >= 1


def test_chosen_rank_is_the_summary_row_marked_chosen(any_dir):
    r = load(any_dir)
    marked = r.summary.loc[r.summary["chosen"] == "yes", "rank"].tolist()
    assert marked == ([] if r.chosen_rank is None else [r.chosen_rank])


def test_attrs_are_plain_python_values(planted):
    r = load(planted)
    assert all(plain(v) for v in r.attrs.values()), {
        k: type(v) for k, v in r.attrs.items() if not plain(v)
    }
    assert r.attrs["ranks"] == [2, 3, 4]
    assert r.attrs["input_shape"] == [N, P]
    assert r.attrs["transpose"] is False
    assert r.attrs["loss"] == "kl" and r.attrs["restarts"] == 4
    assert r.config == (planted.parent / "sweep.toml").read_text() == r.attrs["config"]


def test_summary_has_exactly_the_files_columns_and_na_as_nan(any_dir):
    r = load(any_dir)
    raw = (any_dir / "summary.tsv").read_text().splitlines()
    assert list(r.summary.columns) == header(any_dir / "summary.tsv")
    assert r.summary["rank"].tolist() == r.ranks == [int(ln.split("\t")[0]) for ln in raw[1:]]
    # Every "NA" field is NaN, every other numeric field its number.
    for i, line in enumerate(raw[1:]):
        for column, field in zip(r.summary.columns, line.split("\t"), strict=True):
            value = r.summary[column].iloc[i]
            if field == "NA":
                assert pd.isna(value), (column, i)
            elif column not in ("stop_reason", "chosen"):
                assert float(value) == float(field), (column, i)
    # The best seeds are 64-bit: none may be rounded through float64.
    assert r.summary["best_seed"].dtype == np.uint64


def test_summary_statistics_match_the_rank_groups(planted):
    r = load(planted)
    assert r.summary["null_best"].isna().all()  # no null restarts
    for rank in r.ranks:
        stats = r.rank_stats(rank)
        row = r.summary.set_index("rank").loc[rank]
        assert stats["kl"] == row["kl"]
        assert stats["restart"] == row["best_restart"]
        assert stats["seed"] == int(row["best_seed"])
        assert stats["heldout_deviance"] == row["heldout_deviance"]
        assert all(plain(v) for v in stats.values())


def test_factors_are_the_h5_datasets_non_negative_with_documented_shapes(any_dir):
    r = load(any_dir)
    with h5py.File(any_dir / "results.h5", "r") as f:
        for rank in r.ranks:
            w, h = r.factors(rank)
            assert w.shape == (N, rank) and h.shape == (rank, P)
            assert w.dtype == h.dtype == np.float64
            assert np.isfinite(w).all() and np.isfinite(h).all()
            assert (w >= 0).all() and (h >= 0).all()
            assert np.array_equal(w, f[f"rank_{rank}/W"][()])
            assert np.array_equal(h, f[f"rank_{rank}/H"][()])


def test_factors_default_to_the_chosen_rank(planted):
    r = load(planted)
    assert r.chosen_rank == PLANTED
    w, h = r.factors()
    w3, h3 = r.factors(PLANTED)
    assert np.array_equal(w, w3) and np.array_equal(h, h3)
    # numpy integers are ranks too
    assert r.factors(np.int64(2))[0].shape == (N, 2)


def test_rank_errors_name_the_ranks(planted, unchosen):
    r = load(planted)
    with pytest.raises(ValueError, match=r"rank 7 is not in the sweep.*2, 3, 4"):
        r.factors(7)
    for method in (r.memberships, r.labels, r.consensus, r.rank_stats, r.consensus_factors):
        with pytest.raises(ValueError, match="2, 3, 4"):
            method(5)
    u = load(unchosen)
    assert u.chosen_rank is None and u.runner_up is None
    with pytest.raises(ValueError, match=r"no rank was chosen.*cophenetic.*2, 3"):
        u.factors()
    with pytest.raises(ValueError, match="no rank was chosen"):
        u.memberships()
    assert u.factors(2)[0].shape == (N, 2)


def test_memberships_rows_sum_to_one_and_agree_with_w_and_labels(any_dir):
    r = load(any_dir)
    with h5py.File(any_dir / "results.h5", "r") as f:
        for rank in r.ranks:
            m = r.memberships(rank)
            components = [f"component_{k}" for k in range(1, rank + 1)]
            assert list(m.columns) == ["label", "consensus_label", *components]
            assert m.index.name == "observation" and len(m) == N
            soft = m[components].to_numpy()
            sums = soft.sum(axis=1)
            zero = m["label"].to_numpy() == 0
            assert np.allclose(sums[~zero], 1.0, atol=1e-12)
            assert (soft[zero] == 0).all()
            assert np.allclose(soft, f[f"rank_{rank}/memberships"][()], atol=1e-12)
            # label: the 1-based largest component of the row, as labels() and results.h5 (+1)
            labels = r.labels(rank)
            assert labels.dtype == np.int64
            assert np.array_equal(labels, m["label"].to_numpy())
            assert np.array_equal(labels, f[f"rank_{rank}/labels"][()] + 1)
            assert np.array_equal(labels[~zero], soft[~zero].argmax(axis=1) + 1)
            assert ((labels >= 0) & (labels <= rank)).all()


def test_memberships_index_is_names_or_indices(planted, named):
    p = load(planted)
    assert p.obs_names is None and p.var_names is None
    assert p.memberships().index.tolist() == list(range(N))
    n = load(named)
    assert n.obs_names == [f"cell{i}" for i in range(N)]
    assert n.var_names == [f"gene{j}" for j in range(P)]
    m = n.memberships()
    assert m.index.tolist() == n.obs_names
    # the all-zero observation
    assert m.loc["cell5", "label"] == 0 and n.labels()[5] == 0
    assert (n.factors()[0][5] == 0).all()


def test_consensus_matrix(planted, unchosen):
    r = load(planted)
    c = r.consensus()
    assert c.shape == (N, N) and c.dtype == np.float64
    assert np.allclose(c, c.T) and (c >= 0).all() and (c <= 1).all()
    assert np.allclose(np.diag(c), 1.0)
    cl = r.consensus_labels()
    assert cl.shape == (N,) and set(cl.tolist()) <= set(range(0, PLANTED + 1))
    assert load(unchosen).consensus(2) is None  # one restart: nothing to agree on


def test_consensus_factors(planted, named):
    assert load(planted).consensus_factors() is None
    r = load(named)
    for rank in r.ranks:
        w, h = r.consensus_factors(rank)
        assert w.shape == (N, rank) and h.shape == (rank, P)
        assert (w >= 0).all() and (h >= 0).all()
        # the memberships table uses the consensus W (solution = "consensus")
        s = w.sum(axis=1, keepdims=True)
        soft = np.divide(w, s, out=np.zeros_like(w), where=s > 0)
        table = r.memberships(rank)[[f"component_{k}" for k in range(1, rank + 1)]]
        assert np.allclose(soft, table.to_numpy(), atol=1e-12)
    assert "consensus_objective" in r.rank_stats(3)


def test_fits_and_heldout_tables(planted, named):
    r = load(planted)
    assert list(r.fits.columns) == header(planted / "fits.tsv")
    assert len(r.fits) == 3 * 4
    assert sorted(set(r.fits["rank"])) == [2, 3, 4]
    assert r.fits["seed"].dtype == np.uint64
    assert list(r.heldout.columns) == header(planted / "heldout.tsv")
    assert len(r.heldout) == 3 * 2
    assert (r.heldout["heldout_deviance"] > 0).all()
    # the best fit of each rank is the lowest KL of its restarts
    best = r.fits.groupby("rank")["kl"].min()
    assert np.allclose(best.to_numpy(), r.summary["kl"].to_numpy(), rtol=0, atol=0)
    assert load(named).heldout is None


def test_partial_result(partial):
    r = load(partial)
    stated = re.search(r"(\d+) of (\d+) fits were missing", (partial / "partial.txt").read_text())
    assert r.partial is True
    assert r.missing_fits == int(stated.group(1)) > 0
    assert "partial" in repr(r)
    assert r.heldout is None  # shard 0 ran no cross-validation fit


def test_no_handle_stays_open(planted, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(planted, copy, ignore=shutil.ignore_patterns(".nnmf-sweep-lock"))
    r = load(copy)
    r.factors(), r.consensus(), r.labels(), r.rank_stats(), r.memberships(), r.consensus_factors()
    r.consensus_labels()
    # HDF5 refuses to open a file read-write while this process holds it open read-only.
    with h5py.File(copy / "results.h5", "r+"):
        pass
    # and the Result reads the directory again on each call
    os.remove(copy / "results.h5")
    with pytest.raises(OutputError):
        r.factors()


def test_repr_names_directory_chosen_rank_and_ranks(planted, unchosen):
    text = repr(load(planted))
    assert str(planted.resolve()) in text and "chosen rank 3" in text and "[2, 3, 4]" in text
    assert "chosen rank None" in repr(load(unchosen))


def test_result_pickles(planted):
    r = load(planted)
    again = pickle.loads(pickle.dumps(r))
    assert again.chosen_rank == r.chosen_rank
    assert np.array_equal(again.factors()[0], r.factors()[0])


# -- load errors -----------------------------------------------------------------------


def test_load_on_an_empty_directory_is_an_output_error(tmp_path):
    with pytest.raises(OutputError) as e:
        load(tmp_path)
    assert e.value.exit_code == 4 and e.value.category == "output"
    assert isinstance(e.value, OSError) and isinstance(e.value, NnmfSweepError)
    text = str(e.value)
    assert str(tmp_path.resolve()) in text
    assert "no finished sweep" in text and "merge" in text and "--out" in text


def test_load_on_an_unmerged_shard_says_to_resume_or_merge(sharded):
    assert not (sharded / "results.h5").exists()
    with pytest.raises(OutputError, match=r"no finished sweep.*resume.*nnmf-sweep merge") as e:
        load(sharded)
    assert e.value.exit_code == 4


def test_load_on_a_missing_path_or_a_file(tmp_path, planted):
    with pytest.raises(OutputError, match="no such directory"):
        load(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="not a directory"):
        load(planted / "results.h5")


def test_load_on_a_damaged_results_file(planted, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(planted, copy, ignore=shutil.ignore_patterns(".nnmf-sweep-lock"))
    (copy / "results.h5").write_bytes(b"not an HDF5 file")
    with pytest.raises(OutputError, match="results.h5") as e:
        load(copy)
    assert e.value.exit_code == 4


# -- exceptions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, cls, category, builtin",
    [
        (1, InternalError, "internal", RuntimeError),
        (2, ConfigError, "config", ValueError),
        (3, DataError, "data", ValueError),
        (4, OutputError, "output", OSError),
        (5, NumericalError, "numerical", ArithmeticError),
        (6, IncompleteError, "incomplete", NnmfSweepError),
    ],
)
def test_error_for_each_exit_code(code, cls, category, builtin):
    message = "error: /x/y: something went wrong (exit 2, 'quoted')"
    e = error_for(code, message)
    assert type(e) is cls
    assert isinstance(e, NnmfSweepError) and isinstance(e, builtin)
    assert e.exit_code == code and e.category == category
    assert str(e) == message and e.args == (message,)
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is cls and str(again) == message and again.exit_code == code
    with pytest.raises(cls):
        raise e


def test_error_for_unknown_codes_is_internal():
    for code in (0, 7, 101, -1):
        e = error_for(code, "odd")
        assert type(e) is InternalError and e.exit_code == 1 and str(e) == "odd"


def test_output_error_is_an_oserror_with_one_argument():
    e = OutputError("output directory /o is in use")
    assert str(e) == "output directory /o is in use"
    assert e.errno is None and e.filename is None
    assert issubclass(OutputError, OSError)
