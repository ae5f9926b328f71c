"""nnmf_sweep.run / sweep / project against the real CLI: same bits on the demo config, in-memory
dense, sparse and AnnData input, errors with the CLI's message and exit code, the GIL released,
Ctrl-C stopping a sweep like SIGINT (and the next call resuming).

The CLI binary is $NNMF_SWEEP_BIN, else target/release/nnmf-sweep; the package is the installed
wheel (scripts/test_python.sh builds it from this checkout and installs it in a fresh venv).
"""

from __future__ import annotations

import signal
import gc
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import nnmf_sweep as ns
from support import REPO, planted, run_cli


def factors_of(directory: Path) -> dict[str, np.ndarray]:
    """Every rank's best W and H, and the per-fit objectives, from results.h5."""
    out = {}
    with h5py.File(directory / "results.h5", "r") as f:
        for name in f:
            if name.startswith("rank_"):
                out[f"{name}/W"] = f[name]["W"][()]
                out[f"{name}/H"] = f[name]["H"][()]
        for col in ("kl", "iterations", "seed"):
            out[f"fits/{col}"] = f["fits"][col][()]
    return out


def assert_same_bits(a: Path, b: Path) -> None:
    fa, fb = factors_of(a), factors_of(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        assert np.array_equal(fa[k], fb[k]), f"{k} differs between {a} and {b}"
    ta = pd.read_csv(a / "summary.tsv", sep="\t", dtype=str)
    tb = pd.read_csv(b / "summary.tsv", sep="\t", dtype=str)
    pd.testing.assert_frame_equal(ta, tb)


# -- the demo config: same bits as the CLI ---------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """configs/demo.toml beside its planted data (written by the CLI's simulate, as demo.sh
    does)."""
    d = tmp_path_factory.mktemp("demo")
    (d / "demo.toml").write_text((REPO / "configs" / "demo.toml").read_text())
    run_cli(
        "simulate",
        "--out",
        d / "demo.h5",
        "--rows",
        300,
        "--cols",
        200,
        "--rank",
        4,
        "--seed",
        1,
        cwd=d,
    )
    run_cli("demo.toml", "--out", d / "cli", "--quiet", cwd=d)
    return d


def test_run_gives_the_cli_bits_on_the_demo(demo: Path) -> None:
    result = ns.run(demo / "demo.toml", out=demo / "py", threads=1)
    assert_same_bits(demo / "cli", demo / "py")
    assert result.chosen_rank == 4
    assert result.directory == (demo / "py").resolve()
    summary = pd.read_csv(demo / "cli" / "summary.tsv", sep="\t")
    assert list(result.summary.columns) == list(summary.columns)
    assert result.reasons and all(isinstance(r, str) for r in result.reasons)


def test_sweep_on_the_array_gives_the_cli_bits(demo: Path) -> None:
    with h5py.File(demo / "demo.h5", "r") as f:
        x = f["X"][()]
    result = ns.sweep(
        x,
        ranks=range(2, 7),
        restarts=20,
        loss="kl",
        solver="mu",
        init="random",
        seed=1,
        max_iter=2000,
        tol=1e-6,
        check_every=10,
        out=demo / "mem",
    )
    assert_same_bits(demo / "cli", demo / "mem")
    assert result.attrs["input_format"] == "memory dense"
    assert "ranks = [2, 3, 4, 5, 6]" in result.config


# -- small inputs ----------------------------------------------------------------------------


SMALL_NO_RANKS = dict(restarts=4, seed=3, max_iter=300)
SMALL = dict(ranks=[2, 3, 4], **SMALL_NO_RANKS)


def test_dense_layouts_and_dtypes_give_the_same_fits(tmp_path: Path) -> None:
    x = planted()
    base = ns.sweep(x, out=tmp_path / "c", **SMALL)
    for name, variant in [
        ("fortran", np.asfortranarray(x)),
        ("float32", x.astype(np.float32)),  # counts are exact in float32
        ("int64", x.astype(np.int64)),
        ("strided", np.repeat(x, 2, axis=1)[:, ::2]),
    ]:
        other = ns.sweep(variant, out=tmp_path / name, **SMALL)
        assert_same_bits(base.directory, other.directory)
    assert ns.load(tmp_path / "float32").attrs["input_dtype"] == "float32"


def test_sparse_input_is_kept_sparse_and_matches_the_cli_on_the_same_csr(tmp_path: Path) -> None:
    x = planted()
    x[x < 3] = 0
    csr = sp.csr_matrix(x)
    result = ns.sweep(csr, out=tmp_path / "py", **SMALL)
    assert result.attrs["input_storage"] == "sparse"
    assert result.attrs["input_format"] == "memory csr"
    # The same CSR through a file and the CLI.
    with h5py.File(tmp_path / "x.h5", "w") as f:
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["shape"] = np.array(x.shape)
        g["data"], g["indices"], g["indptr"] = csr.data, csr.indices, csr.indptr
    (tmp_path / "c.toml").write_text(
        textwrap.dedent(
            """
            [data]
            path = "x.h5"
            dataset = "X"
            [sweep]
            ranks = [2, 3, 4]
            restarts = 4
            seed = 3
            [stop]
            max_iter = 300
            """
        )
    )
    run_cli("c.toml", "--out", tmp_path / "cli", "--quiet", cwd=tmp_path)
    assert ns.load(tmp_path / "cli").attrs["input_storage"] == "sparse"
    assert_same_bits(tmp_path / "cli", result.directory)
    # CSC, COO and unsorted CSR are converted to canonical CSR: the same fits.
    unsorted = csr.copy()
    for i in range(unsorted.shape[0]):
        lo, hi = unsorted.indptr[i], unsorted.indptr[i + 1]
        unsorted.indices[lo:hi] = unsorted.indices[lo:hi][::-1].copy()
        unsorted.data[lo:hi] = unsorted.data[lo:hi][::-1].copy()
    unsorted.has_sorted_indices = False
    for name, variant in [("csc", csr.tocsc()), ("coo", csr.tocoo()), ("unsorted", unsorted)]:
        assert_same_bits(
            result.directory, ns.sweep(variant, out=tmp_path / name, **SMALL).directory
        )


def test_anndata_round_trip(tmp_path: Path) -> None:
    import anndata as ad

    x = planted()
    adata = ad.AnnData(
        X=np.zeros_like(x),
        obs=pd.DataFrame(index=[f"cell{i}" for i in range(x.shape[0])]),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(x.shape[1])]),
    )
    adata.layers["counts"] = sp.csr_matrix(x)
    result = ns.sweep(adata, layer="counts", out=tmp_path / "res", **SMALL)
    assert result.obs_names == list(adata.obs_names)
    assert result.var_names == list(adata.var_names)
    ns.annotate(adata, result)
    r = result.chosen_rank
    w, h = result.factors(r)
    assert np.array_equal(adata.obsm["nnmf_W"], w)
    assert np.array_equal(adata.varm["nnmf_H"], h.T)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert np.array_equal(back.obsm["nnmf_W"], w)
    assert np.array_equal(back.varm["nnmf_H"], h.T)
    assert int(back.uns["nnmf"]["rank"]) == r
    assert list(back.obs["nnmf_label"].astype(int)) == list(adata.obs["nnmf_label"].astype(int))
    # The annotated file read by the CLI again: same X, so the same fits.
    (tmp_path / "a.toml").write_text(
        '[data]\npath = "a.h5ad"\nlayer = "counts"\n'
        "[sweep]\nranks = [2, 3, 4]\nrestarts = 4\nseed = 3\n"
        "[stop]\nmax_iter = 300\n"
    )
    run_cli("a.toml", "--out", tmp_path / "cli", "--quiet", cwd=tmp_path)
    assert_same_bits(tmp_path / "cli", result.directory)


def test_dataframe_names_and_projection(tmp_path: Path) -> None:
    x = planted()
    df = pd.DataFrame(
        x, index=[f"s{i}" for i in range(x.shape[0])], columns=[f"f{j}" for j in range(x.shape[1])]
    )
    result = ns.sweep(df, out=tmp_path / "res", **SMALL)
    assert result.var_names == list(df.columns)
    # Projection matches features by name: reversed columns give the same W.
    w1 = ns.project(result, df.iloc[:5])
    w2 = ns.project(result, df.iloc[:5, ::-1])
    np.testing.assert_allclose(w1, w2, rtol=1e-12, atol=1e-12)
    assert w1.shape == (5, result.chosen_rank) and (w1 >= 0).all()


# -- errors: the CLI's message and exit code --------------------------------------------------


def test_bad_data_in_a_config_gives_the_cli_message_and_code(tmp_path: Path) -> None:
    x = planted()
    x[7, 5] = -2.0
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["X"] = x
    (tmp_path / "bad.toml").write_text(
        '[data]\npath = "bad.h5"\ndataset = "X"\n[sweep]\nranks = [2]\n'
    )
    proc = run_cli("bad.toml", "--out", tmp_path / "cli", cwd=tmp_path, ok=(3,))
    with pytest.raises(ns.DataError) as err:
        ns.run(tmp_path / "bad.toml", out=tmp_path / "py")
    assert err.value.exit_code == 3 and err.value.category == "data"
    assert f"error: {err.value}\n" == proc.stderr
    assert "negative" in str(err.value)
    assert not (tmp_path / "py").exists()  # nothing half-written


def test_bad_input_in_memory(tmp_path: Path) -> None:
    x = planted()
    x[2, 3] = np.nan
    with pytest.raises(ns.DataError, match=r"numpy array: has 1 NaN"):
        ns.sweep(x, out=tmp_path / "a", **SMALL)
    with pytest.raises(ns.ConfigError, match="rank 100 is larger than both dimensions"):
        ns.sweep(planted(), ranks=[100], out=tmp_path / "b")
    with pytest.raises(ns.ConfigError, match=r"unknown option 'restart'; did you mean 'restarts'"):
        ns.sweep(planted(), ranks=[2], restart=3)
    with pytest.raises(ns.ConfigError, match=r'model.loss: unknown value "poisson"'):
        ns.sweep(planted(), ranks=[2], loss="poisson", out=tmp_path / "c")
    with pytest.raises(ns.DataError, match="expected a 2-D matrix"):
        ns.sweep(np.ones(5), ranks=[1])
    # NaN as missing values when asked.
    r = ns.sweep(x, out=tmp_path / "d", missing="nan", **SMALL)
    assert r.attrs["missing_entries"] == 1
    # A finished directory is refused without force, as the CLI refuses it.
    ns.sweep(planted(), out=tmp_path / "e", **SMALL)
    with pytest.raises(ns.OutputError) as err:
        ns.sweep(planted(), out=tmp_path / "e", **SMALL)
    assert err.value.exit_code == 4 and "already holds results" in str(err.value)
    ns.sweep(planted(), out=tmp_path / "e", force=True, **SMALL)


def test_ranks_must_be_integers(tmp_path: Path) -> None:
    # Refused as the CLI refuses ranks = [2.5], never truncated to 2.
    with pytest.raises(ns.ConfigError, match=r"ranks=\[2\.5\]: every rank must be an integer"):
        ns.sweep(planted(), ranks=[2.5], out=tmp_path / "a")
    assert not (tmp_path / "a").exists()
    r = ns.sweep(planted(), ranks=np.array([2, 3]), out=tmp_path / "b", **SMALL_NO_RANKS)
    assert r.ranks == [2, 3]


def test_the_temporary_directory_lives_as_long_as_its_result(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = ns.sweep(planted(), **SMALL)
    directory = result.directory
    assert directory.parent.parent == tmp_path and (directory / "results.h5").is_file()
    assert result.factors()[0].shape[0] == planted().shape[0]
    del result
    gc.collect()
    assert not directory.parent.exists()
    # A sweep that fails before storing any fit leaves no temporary directory behind.
    x = planted()
    x[0, 0] = -1.0
    with pytest.raises(ns.DataError):
        ns.sweep(x, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_an_observation_named_na_and_64_bit_seeds(tmp_path: Path) -> None:
    x = planted()
    names = [f"s{i}" for i in range(x.shape[0])]
    names[3] = "NA"
    result = ns.sweep(pd.DataFrame(x, index=names), out=tmp_path / "na", **SMALL)
    m = result.memberships()
    assert list(m.index) == names and m.index[3] == "NA"
    assert not m.isna().any().any()
    # Seeds are 64-bit whatever their values (no int64 for some sweeps, uint64 for others).
    assert result.summary["best_seed"].dtype == np.uint64
    assert result.fits["seed"].dtype == np.uint64


def test_threads_do_not_change_the_bits(tmp_path: Path) -> None:
    x = planted()
    a = ns.sweep(x, out=tmp_path / "t1", threads=1, **SMALL)
    b = ns.sweep(x, out=tmp_path / "t2", threads=2, **SMALL)
    assert_same_bits(a.directory, b.directory)


# -- the GIL and Ctrl-C ------------------------------------------------------------------------


def test_the_gil_is_released_while_fitting(tmp_path: Path) -> None:
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.perf_counter()
    ns.sweep(
        planted(200, 150, 4), ranks=[3, 4, 5], restarts=6, seed=1, threads=1, out=tmp_path / "g"
    )
    elapsed = time.perf_counter() - start
    stop.set()
    t.join()
    # The counting thread ran while the sweep held no GIL: at least a tick per 10 ms of sweep.
    assert elapsed > 0.2 and ticks > elapsed * 100, (elapsed, ticks)


# Ctrl-C as in an interactive session: SIGINT raises KeyboardInterrupt. Python installs that
# handler only when SIGINT is not ignored at start, and a process started in the background by a
# non-interactive shell (a CI job launched with `&`) inherits SIGINT ignored, so the child
# installs it itself.
CTRL_C = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
import sys, numpy as np, nnmf_sweep as ns
rng = np.random.default_rng(0)
x = rng.poisson(4.0 * rng.gamma(0.5, 1, (300, 5)) @ rng.gamma(0.5, 1, (5, 200))).astype(float)
try:
    ns.sweep(x, ranks=[4, 5, 6, 7, 8], restarts=40, seed=1, threads=1, tol=1e-12, max_iter=3000,
             out=sys.argv[1], progress=True)
except ns.Interrupted as e:
    assert isinstance(e, KeyboardInterrupt) and not isinstance(e, Exception)
    assert e.exit_code == 6 and e.category == "incomplete"
    print("INTERRUPTED", e)
    sys.exit(6)
print("FINISHED")
"""


def test_ctrl_c_stops_like_sigint_keeping_the_finished_fits(tmp_path: Path) -> None:
    out = tmp_path / "res"
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    records = out / "records"
    deadline = time.time() + 120
    while time.time() < deadline and not (
        records.is_dir() and len(list(records.glob("*.rec"))) >= 2
    ):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 6, (stdout, stderr)
    assert (
        "INTERRUPTED incomplete: stopped by a signal: " in stdout
        and "run the same command again" in stdout
    )
    assert not (out / "results.h5").exists()
    done = len(list(records.glob("*.rec")))
    assert 2 <= done < 200
    assert f"{done} of 215 fits are stored" in stdout
    # The stored fits are kept, and counted by the CLI's status (what a resume skips).
    status = run_cli("status", out, cwd=tmp_path)
    assert f"{done} of 215" in status.stdout, status.stdout
