#!/usr/bin/env bash
# The Python package's tests: a fresh virtual environment (NNMF_PY_VENV, default
# target/py-venv, made anew each run), the wheel built from this checkout by pip through the
# package's own build backend (maturin, from pyproject.toml: what `pip install .` does), that very
# wheel installed with its dependencies and the test extras, then pytest on python/tests (which
# also runs the command line, target/wheel/nnmf-sweep, for same-bits comparisons).
# Called by scripts/test.sh; needs network access to PyPI (or a pip cache/mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${NNMF_PY_VENV:-target/py-venv}
wheels=target/wheels
rm -rf "$venv" "$wheels"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# The wheel, built from this checkout exactly as `pip install .` builds it.
"$venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" .
wheel=$(ls "$wheels"/nnmf_sweep-*.whl)
echo "test_python: installing $wheel" >&2
"$venv/bin/python" -m pip install --quiet "$wheel[test]" ruff
# Lint and formatting of the package and its tests (pyproject.toml's [tool.ruff]).
"$venv/bin/ruff" check python
"$venv/bin/ruff" format --check python
# Imported from the installed wheel, not from python/ (pytest runs from another directory).
# The command line for the same-bits comparisons, built with the wheel's feature set (both
# packages named), so that it reuses the wheel's compiled dependencies instead of building them again.
# Same profile as the wheel (pyproject.toml: "wheel").
cargo build --profile wheel --quiet -p nnmf-sweep -p nnmf-sweep-python --bin nnmf-sweep
cd "$venv"
NNMF_SWEEP_BIN="$OLDPWD/target/wheel/nnmf-sweep" bin/python -c 'import nnmf_sweep, sys; print("nnmf_sweep", nnmf_sweep.__version__, "from", nnmf_sweep.__file__, file=sys.stderr)'
NNMF_SWEEP_BIN="$OLDPWD/target/wheel/nnmf-sweep" bin/python -m pytest -q -p no:cacheprovider "$OLDPWD/python/tests"
