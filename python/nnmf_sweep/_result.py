"""Reading a finished ``nnmf-sweep`` output directory.

:func:`load` opens any output directory whose sweep has finished (``results.h5`` present: a
run, a ``merge``, or a ``merge --allow-partial``) and returns a :class:`Result`. The layout it
reads is the README's "Output layout"; in short:

- ``results.h5``: the root attributes (settings, the decision: ``chosen_rank``, ``runner_up``,
  ``selection_rule``, ``selection_reasons``, ``chosen_by_<rule>``), the ``obs_names`` /
  ``var_names`` datasets when the data had names, and per rank a group ``rank_<r>`` with the
  best fit's ``W`` (N x r: observations are rows) and ``H`` (r x p), ``memberships``,
  ``labels``, ``consensus`` and the rank's statistics as attributes;
- ``summary.tsv`` (one row per rank), ``fits.tsv`` (one row per fit), ``heldout.tsv`` (one row
  per cross-validation fit, when there were any), ``memberships_rank_<r>.tsv``.

HDF5 is read with h5py, read-only, and every file is closed before a call returns: a
:class:`Result` holds no open handle, so it can be kept, pickled, or outlive the directory's
files being replaced (it then reads the new ones).
"""

from __future__ import annotations

import operator
import os
import pathlib
from functools import cached_property
from typing import Any

import h5py
import numpy as np
import pandas as pd

from ._errors import OutputError

__all__ = ["load", "Result"]

RESULTS = "results.h5"
MANIFEST = "sweep-manifest.txt"


def load(directory: str | os.PathLike[str]) -> Result:
    """Read the finished sweep in ``directory`` (an ``nnmf-sweep`` output directory).

    Args:
        directory: the output directory (``[output] dir`` or ``--out`` of the run).

    Returns:
        A :class:`Result`. Its settings, decision, names and summary table are read at once;
        the other tables and every matrix are read when asked for.

    Raises:
        OutputError: (exit code 4) when ``directory`` does not exist, is not a directory, holds
            no finished sweep (no ``results.h5``: the sweep has not finished, or its shards are
            not merged; the message says which command finishes it), or its ``results.h5`` or
            ``summary.tsv`` cannot be read.
    """
    return Result(directory)


def _decode(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value: str, int, float, bool or a list of them."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _decode(value[()])
        return [_decode(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_decode(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _decode_attrs(attrs: h5py.AttributeManager) -> dict[str, Any]:
    return {str(k): _decode(attrs[k]) for k in attrs}


def _names(f: h5py.File, name: str) -> list[str] | None:
    if name not in f:
        return None
    values = f[name][()]
    return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in values]


def _rank_or_none(value: Any) -> int | None:
    """``chosen_rank``, ``runner_up`` and ``chosen_by_<rule>`` store 0 for "none"."""
    if value is None:
        return None
    value = int(value)
    return value if value > 0 else None


def _read_tsv(path: pathlib.Path) -> pd.DataFrame:
    """A table of the program (tab-separated, a header line, ``NA`` for a missing value):
    ``NA`` becomes NaN, every other field is kept as written (a ``stop_reason`` of ``"nan"``
    would stay a string); the seed columns are uint64 (the seeds are 64-bit) whatever their
    values; floats are parsed exactly (pandas' default parser can be 1 ulp off the shortest
    representation the program writes, so a value would differ from the same one in
    results.h5)."""
    table = pd.read_csv(
        path, sep="\t", keep_default_na=False, na_values=["NA"], float_precision="round_trip"
    )
    for column in ("seed", "best_seed"):
        if column in table and table[column].dtype == np.int64:
            table[column] = table[column].astype(np.uint64)
    return table


class Result:
    """A finished sweep: its decision, tables, and the factors of every rank.

    Shapes: N observations (rows of X as fitted, after ``transpose``), p features, rank r.
    ``W`` is N x r (observations are rows), ``H`` is r x p, X ≈ W H.

    Attributes:
        directory: the output directory (absolute :class:`pathlib.Path`).
        attrs: every root attribute of ``results.h5``, decoded to str / int / float / bool /
            list (``config``, ``loss``, ``solver``, ``seed``, ``ranks``, ``input_shape``, ...).
        chosen_rank: the rank the selection rule chose, or None when it could choose none
            (``results.h5`` stores 0; the reasons say why).
        runner_up: the second choice, or None.
        selection_rule: the rule that decided (``"default"``, ``"cophenetic"``, ``"heldout"``).
        reasons: the decision's reasons, one string each (as listed in ``selection.txt``).
        chosen_by: every rule's choice, ``{"default": 4, "cophenetic": 4, "heldout": None}``.
        ranks: the ranks with results (a ``rank_<r>`` group in ``results.h5``), ascending.
        obs_names, var_names: the N observations' and p features' names, or None when the data
            had none.
        partial: True for a ``merge --allow-partial`` result with fits missing.
        missing_fits: how many fits a partial result lacks (0 when complete).
        config: the config text of the sweep.
        summary: ``summary.tsv`` as a DataFrame (one row per rank, exactly its columns, ``NA``
            as NaN; ``rank`` is a column).
        fits: ``fits.tsv`` (one row per fit), read when first used.
        heldout: ``heldout.tsv`` (one row per cross-validation fit), or None when the sweep
            ran none; read when first used.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        path = pathlib.Path(directory).expanduser()
        if not path.exists():
            raise OutputError(
                f"{path}: no such directory: nothing to load; give the output directory of a "
                f"sweep ([output] dir in its config, or --out)"
            )
        if not path.is_dir():
            raise OutputError(
                f"{path} is not a directory: give the output directory of a sweep "
                f"([output] dir in its config, or --out), not a file in it"
            )
        self.directory: pathlib.Path = path.resolve()
        results = self.directory / RESULTS
        if not results.is_file():
            raise OutputError(self._unfinished_message())
        try:
            with self._open() as f:
                self.attrs: dict[str, Any] = _decode_attrs(f.attrs)
                self.obs_names: list[str] | None = _names(f, "obs_names")
                self.var_names: list[str] | None = _names(f, "var_names")
                ranks = []
                for name in f:
                    if name.startswith("rank_") and name[5:].isdigit():
                        ranks.append(int(name[5:]))
                self.ranks: list[int] = sorted(ranks)
        except OutputError:
            raise
        except (OSError, KeyError, ValueError) as e:
            raise OutputError(f"{results}: cannot be read as a sweep's results: {e}") from e

        self.chosen_rank: int | None = _rank_or_none(self.attrs.get("chosen_rank"))
        self.runner_up: int | None = _rank_or_none(self.attrs.get("runner_up"))
        self.selection_rule: str = str(self.attrs.get("selection_rule", ""))
        self.reasons: list[str] = self._reasons()
        self.chosen_by: dict[str, int | None] = {
            k[len("chosen_by_") :]: _rank_or_none(v)
            for k, v in sorted(self.attrs.items())
            if k.startswith("chosen_by_")
        }
        self.partial: bool = bool(self.attrs.get("partial", 0))
        self.missing_fits: int = int(self.attrs.get("missing_fits", 0))
        self.config: str = str(self.attrs.get("config", ""))
        self.summary: pd.DataFrame = self._table("summary.tsv")

    # -- construction helpers ------------------------------------------------------------

    def _unfinished_message(self) -> str:
        d = self.directory
        if (d / MANIFEST).is_file():
            return (
                f"output directory {d} holds no finished sweep (no {RESULTS}): its sweep has not "
                f"finished, or its shards were not merged; run the same sweep command again to "
                f"resume it, or merge it (nnmf-sweep merge {d}; with --allow-partial for a result "
                f"from the fits done so far); nnmf-sweep status {d} lists the fits missing"
            )
        return (
            f"output directory {d} holds no finished sweep (no {RESULTS}, and no {MANIFEST}: no "
            f"sweep has written here); run a sweep into it (nnmf-sweep CONFIG --out {d}), or "
            f"merge the shards of one written here (nnmf-sweep merge {d})"
        )

    def _open(self) -> h5py.File:
        """results.h5, read-only. With HDF5's file locking as usual first; where that fails
        over locks (a file system without them, as some cluster NFS set-ups; or the file
        already open in this process with locking off, whose flags must match), again with
        locking off: the file is never written in place (it is renamed into place when
        complete), so a reader needs no lock."""
        path = self.directory / RESULTS
        try:
            return h5py.File(path, "r")
        except OSError as e:
            if "lock" not in str(e).lower():
                raise
            try:
                return h5py.File(path, "r", locking=False)
            except TypeError:  # h5py < 3.5 has no `locking`
                raise e from None

    def _reasons(self) -> list[str]:
        text = self.attrs.get("selection_reasons")
        if isinstance(text, list):
            return [str(t) for t in text]
        if isinstance(text, str):
            return [line for line in text.split("\n") if line.strip()]
        # Not in results.h5 (an older file): selection.txt lists them as "  - reason" lines.
        sel = self.directory / "selection.txt"
        if sel.is_file():
            lines = sel.read_text(encoding="utf-8", errors="replace").splitlines()
            return [ln.strip()[2:] for ln in lines if ln.startswith("  - ")]
        return []

    def _table(self, name: str) -> pd.DataFrame:
        path = self.directory / name
        try:
            return _read_tsv(path)
        except FileNotFoundError as e:
            raise OutputError(f"{path} is missing from a finished sweep's directory") from e
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise OutputError(f"{path} cannot be read: {e}") from e

    # -- tables read when used -----------------------------------------------------------

    @cached_property
    def fits(self) -> pd.DataFrame:
        """``fits.tsv``: one row per fit (``rank restart seed kl poisson_loglik frobenius_sq
        penalty iterations stop_reason seconds``), NA as NaN."""
        return self._table("fits.tsv")

    @cached_property
    def heldout(self) -> pd.DataFrame | None:
        """``heldout.tsv``: one row per cross-validation fit, or None when there was none."""
        if not (self.directory / "heldout.tsv").is_file():
            return None
        return self._table("heldout.tsv")

    # -- per rank ------------------------------------------------------------------------

    def _rank(self, rank: int | None) -> int:
        """The rank asked for, or the chosen one; a ValueError naming the ranks otherwise."""
        listed = ", ".join(str(r) for r in self.ranks)
        if rank is None:
            if self.chosen_rank is None:
                why = "; ".join(self.reasons) or "no reason recorded"
                raise ValueError(
                    f"no rank was chosen in {self.directory} (rule {self.selection_rule!r}: "
                    f"{why}); pass rank= one of the ranks swept: {listed}"
                )
            rank = self.chosen_rank
        try:
            r = operator.index(rank)
        except TypeError:
            raise TypeError(f"rank must be an integer, not {type(rank).__name__}") from None
        if r not in self.ranks:
            raise ValueError(
                f"rank {r} is not in the sweep in {self.directory}; its ranks are: {listed}"
            )
        return r

    def _read(self, rank: int, name: str, *, optional: bool = False) -> np.ndarray | None:
        try:
            with self._open() as f:
                group = f[f"rank_{rank}"]
                if name not in group:
                    if optional:
                        return None
                    raise OutputError(
                        f"{self.directory / RESULTS} has no rank_{rank}/{name} (damaged or "
                        f"written by another version); merge the sweep again"
                    )
                return group[name][()]
        except OutputError:
            raise
        except (OSError, KeyError) as e:
            raise OutputError(
                f"{self.directory / RESULTS}: cannot read rank_{rank}/{name}: {e}"
            ) from e

    def factors(self, rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The best fit of a rank: ``(W, H)`` with X ≈ W H.

        Args:
            rank: a rank of the sweep; None (default): the chosen rank.

        Returns:
            ``W``: float64 array N x r (observations are rows, as fitted after ``transpose``;
            all-zero rows of X have zero rows), ``H``: float64 array r x p (components are
            rows). Both non-negative.

        Raises:
            ValueError: the rank is not in the sweep, or rank is None and none was chosen.
        """
        r = self._rank(rank)
        w = np.asarray(self._read(r, "W"), dtype=np.float64)
        h = np.asarray(self._read(r, "H"), dtype=np.float64)
        return w, h

    def consensus_factors(self, rank: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """The consensus solution of a rank (``[selection] solution = "consensus"``):
        ``(consensus_W, consensus_H)``, float64, N x r and r x p, or None when the sweep did
        not compute one for this rank. rank None: the chosen rank."""
        r = self._rank(rank)
        w = self._read(r, "consensus_W", optional=True)
        h = self._read(r, "consensus_H", optional=True)
        if w is None or h is None:
            return None
        return np.asarray(w, dtype=np.float64), np.asarray(h, dtype=np.float64)

    def memberships(self, rank: int | None = None) -> pd.DataFrame:
        """``memberships_rank_<r>.tsv``: one row per observation.

        Columns ``label`` (1-based component of the row's largest W entry, 0 for an all-zero
        row), ``consensus_label`` (1..r, 0 for an all-zero row), and ``component_1`` ..
        ``component_r`` (the row of W scaled to sum 1; all-zero rows stay 0). The index is
        named ``observation``: the observation names (str) when the data had names, else
        the 0-based row indices (int). With ``[selection] solution = "consensus"`` the
        table (and :meth:`labels`) come from the consensus W, as the program writes them.
        rank None: the chosen rank.
        """
        r = self._rank(rank)
        path = self.directory / f"memberships_rank_{r}.tsv"
        try:
            with path.open(encoding="utf-8") as f:
                header = f.readline().rstrip("\n").split("\t")
            table = pd.read_csv(
                path,
                sep="\t",
                dtype={header[0]: str},
                keep_default_na=False,
                # NA is missing in the value columns only: an observation may be named "NA".
                na_values={c: ["NA"] for c in header[1:]},
                float_precision="round_trip",
            )
        except FileNotFoundError as e:
            raise OutputError(f"{path} is missing from a finished sweep's directory") from e
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise OutputError(f"{path} cannot be read: {e}") from e
        first = table.columns[0]
        index = table[first]
        if self.obs_names is None:
            try:
                index = index.astype(np.int64)
            except ValueError:
                pass
        table = table.drop(columns=[first])
        table.index = pd.Index(index, name=first)
        return table

    def labels(self, rank: int | None = None) -> np.ndarray:
        """Each observation's component: int64 array of N, **1-based** (1..r: the component of
        the row's largest W entry), 0 for an all-zero row; the ``label`` column of
        :meth:`memberships` and what :func:`nnmf_sweep._anndata.annotate` stores. (results.h5
        stores it 0-based as ``rank_<r>/labels``, -1 for an all-zero row: that is this minus 1.)
        rank None: the chosen rank."""
        r = self._rank(rank)
        return np.asarray(self._read(r, "labels"), dtype=np.int64) + 1

    def consensus(self, rank: int | None = None) -> np.ndarray | None:
        """The consensus matrix of a rank: float64 N x N, entry (i, j) the fraction of restarts
        that put observations i and j in the same component; None when it was not computed
        (a single restart, or above ``[selection] consensus_max_mb``). rank None: the chosen
        rank."""
        r = self._rank(rank)
        c = self._read(r, "consensus", optional=True)
        return None if c is None else np.asarray(c, dtype=np.float64)

    def consensus_labels(self, rank: int | None = None) -> np.ndarray | None:
        """The consensus clusters (average linkage of the consensus matrix cut at r): int64
        array of N, 1..r, 0 for an all-zero row; None when not computed. rank None: the chosen
        rank."""
        r = self._rank(rank)
        c = self._read(r, "consensus_labels", optional=True)
        return None if c is None else np.asarray(c, dtype=np.int64)

    def rank_stats(self, rank: int | None = None) -> dict[str, Any]:
        """The attributes of ``rank_<r>`` in results.h5, decoded: the best fit's ``restart``,
        ``seed``, ``kl``, ``poisson_loglik``, ``frobenius_sq``, ``penalty``, ``iterations``,
        ``stop_reason``, the counts ``fits``, ``converged``, ``max_iter_fits``, ``failed``, and
        the statistics computed (``cophenetic``, ``dispersion``, ``silhouette``,
        ``stability``, ``heldout_deviance``, ``consensus_*``, ...; absent when not computed).
        rank None: the chosen rank."""
        r = self._rank(rank)
        try:
            with self._open() as f:
                return _decode_attrs(f[f"rank_{r}"].attrs)
        except (OSError, KeyError) as e:
            raise OutputError(f"{self.directory / RESULTS}: cannot read rank_{r}: {e}") from e

    # -- presentation --------------------------------------------------------------------

    def __repr__(self) -> str:
        extra = f", partial ({self.missing_fits} fits missing)" if self.partial else ""
        return (
            f"<nnmf_sweep Result {str(self.directory)!r}: chosen rank {self.chosen_rank} "
            f"(rule {self.selection_rule!r}), runner-up {self.runner_up}, ranks {self.ranks}, "
            f"loss {self.attrs.get('loss')!r}{extra}>"
        )
