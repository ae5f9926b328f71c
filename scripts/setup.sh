#!/usr/bin/env bash
# Installs what nnmf-sweep needs and is missing on a Debian 12 / Ubuntu machine with a Rust
# toolchain: the system HDF5 and OpenBLAS libraries (and pkg-config to find them). With --test,
# also Python's h5py, numpy, scipy and anndata (with pandas), used by the interoperability tests
# and by scripts/make_format_fixtures.py (tests/formats.rs). Idempotent: skips what is there.
set -euo pipefail

want_test=0
[[ ${1:-} == --test ]] && want_test=1

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
    ((apt_updated)) || { as_root apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
for pkg in libhdf5-dev libopenblas-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    apt_install "${missing[@]}"
fi

if ((want_test)); then
    command -v python3 >/dev/null || { echo "setup: installing python3" >&2; apt_install python3; }
    # The Python package's tests build their own virtual environment (scripts/test_python.sh).
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null ||
        { echo "setup: installing python3-venv" >&2; apt_install python3-venv; }
    if ! python3 -c 'import h5py, numpy, scipy, anndata, sklearn, nibabel' 2>/dev/null; then
        echo "setup: installing Python packages h5py, numpy, scipy, anndata, scikit-learn, nibabel" >&2
        # pip where it may install (a user or pyenv Python), else Debian's packages.
        python3 -m pip install --quiet anndata scipy h5py numpy scikit-learn nibabel 2>/dev/null ||
            apt_install python3-h5py python3-numpy python3-scipy python3-anndata python3-sklearn python3-nibabel
        python3 -c 'import h5py, numpy, scipy, anndata, sklearn, nibabel'
    fi
fi
