"""Exceptions carrying the exit-code categories of the ``nnmf-sweep`` command line.

Every error the package raises for a failed sweep, merge or load is a :class:`NnmfSweepError`
whose ``exit_code`` and ``category`` are those the CLI would exit with (README, "Exit codes"),
and whose ``str()`` is the CLI's message, unchanged. Each subclass also derives from the
built-in exception a Python caller would expect (``ValueError`` for a bad config or bad data,
``OSError`` for an output-directory problem, ...), so ``except ValueError`` keeps working.

- 1 ``internal``: :class:`InternalError` (also a ``RuntimeError``)
- 2 ``config``: :class:`ConfigError` (also a ``ValueError``)
- 3 ``data``: :class:`DataError` (also a ``ValueError``)
- 4 ``output``: :class:`OutputError` (also an ``OSError``)
- 5 ``numerical``: :class:`NumericalError` (also an ``ArithmeticError``)
- 6 ``incomplete``: :class:`IncompleteError`; after Ctrl-C :class:`Interrupted`, a
  ``KeyboardInterrupt`` with the same ``exit_code`` and ``category``
"""

from __future__ import annotations

__all__ = [
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


class _Message:
    """The message handling both :class:`NnmfSweepError` and :class:`Interrupted` share: built
    from the message alone (``OSError`` would read two arguments as ``errno, strerror`` and
    change ``str()``), which is also ``str()``, ``message`` and what pickling keeps."""

    def __init__(self, message: str = "") -> None:
        message = str(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        # OSError's __str__ would format errno/strerror/filename when set; the message is the
        # whole story here.
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self):
        # Pickle (multiprocessing, joblib) by the message alone, whatever the built-in base.
        return (type(self), (self.message,))


class NnmfSweepError(_Message, Exception):
    """Base class of every error of this package.

    Attributes:
        exit_code: the CLI's exit code for this kind of failure (1-6).
        category: its name: ``"internal"``, ``"config"``, ``"data"``, ``"output"``,
            ``"numerical"`` or ``"incomplete"``.
        message: the message, also what ``str(error)`` returns.
    """

    exit_code: int = 1
    category: str = "internal"


class InternalError(NnmfSweepError, RuntimeError):
    """Exit code 1: an internal error (a bug, or an unexpected I/O or HDF5 failure while
    writing)."""

    exit_code = 1
    category = "internal"


class ConfigError(NnmfSweepError, ValueError):
    """Exit code 2: bad command line or configuration (malformed TOML, unknown key, invalid
    value, a memory estimate above the limit, a rank impossible for the data, ...)."""

    exit_code = 2
    category = "config"


class DataError(NnmfSweepError, ValueError):
    """Exit code 3: bad input data (missing file, dataset or layer, wrong shape or type,
    negative / NaN / infinite entries, data changed since the sweep ran, ...)."""

    exit_code = 3
    category = "data"


class OutputError(NnmfSweepError, OSError):
    """Exit code 4: an output-directory problem (results already there, not writable, locked
    by another process, the fits of another sweep, no finished sweep to load, ...)."""

    exit_code = 4
    category = "output"


class NumericalError(NnmfSweepError, ArithmeticError):
    """Exit code 5: numerical failure (every fit of some rank produced a non-finite
    objective)."""

    exit_code = 5
    category = "numerical"


class IncompleteError(NnmfSweepError):
    """Exit code 6: incomplete (stopped by a signal with the finished fits stored, or fits
    missing at a merge); running the same command again resumes."""

    exit_code = 6
    category = "incomplete"


class Interrupted(_Message, KeyboardInterrupt):
    """Ctrl-C during a sweep: it stopped as SIGINT stops the CLI (exit code 6, ``incomplete``:
    the fits in flight are dropped, the finished ones are kept in the output directory); calling
    again with the same arguments and output directory resumes.

    A ``KeyboardInterrupt`` and not an ``Exception`` (so not an :class:`NnmfSweepError`), so
    that ``except Exception`` (scikit-learn's cross-validation, a retry loop) does not swallow
    Ctrl-C and it still ends a script or a notebook cell as usual; it carries the same
    ``exit_code``, ``category`` and ``message`` as :class:`IncompleteError`.
    """

    exit_code: int = IncompleteError.exit_code
    category: str = IncompleteError.category


_BY_CODE: dict[int, type[NnmfSweepError]] = {
    cls.exit_code: cls
    for cls in (
        InternalError,
        ConfigError,
        DataError,
        OutputError,
        NumericalError,
        IncompleteError,
    )
}


def error_for(code: int, message: str) -> NnmfSweepError:
    """The exception for a CLI exit code: ``error_for(4, msg)`` is ``OutputError(msg)``.

    An unknown code (0, or anything outside 1-6) gives an :class:`InternalError` (whose
    ``exit_code`` is 1), with the message unchanged.
    """
    return _BY_CODE.get(code, InternalError)(message)
