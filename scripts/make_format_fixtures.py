#!/usr/bin/env python3
"""Writes one count matrix in every input format nnmf-sweep reads, with the packages people use
to write them (anndata, scipy, h5py, numpy, pandas), for tests/formats.rs.

Usage: make_format_fixtures.py OUTDIR

The matrix (40 cells x 25 genes, planted rank 3 Poisson counts, fixed seed) is the same in every
file, so every format must give the same fits. Files written into OUTDIR:

  dense.h5        dataset X (float64, cells x genes), obs and var (names, variable-length strings)
  dense.h5ad      anndata: dense X (float32); layer "half" = X / 2 (dense)
  sparse.h5ad     anndata: CSR X (float64); layer "counts" = the same counts as CSC (int64);
                  layer "log1p" = log(1 + X) as CSR
  groups.h5       scipy sparse arrays stored as groups with h5py: "csr" (AnnData attributes
                  encoding-type and shape, int64 indices), "csc" (a 10x-style shape dataset and no
                  attributes, uint32 indices and uint64 indptr), "csr_h5sparse" (h5sparse_format and
                  h5sparse_shape attributes, int32 indices)
  tenx.h5         10x Genomics feature-barcode matrix (Cell Ranger 3+ layout, see
                  https://www.10xgenomics.com/support/software/cell-ranger/latest/analysis/outputs/cr-outputs-h5-matrices):
                  matrix/{data,indices,indptr,shape,barcodes,features/{id,name,feature_type,genome}},
                  genes x cells in CSC, fixed-length byte strings, gzip-compressed
  counts.mtx      scipy.io.mmwrite of the cells x genes matrix (coordinate integer general)
  counts_t.mtx    the same, genes x cells (read with transpose = true)
  counts.csv      numpy.savetxt with a header row of gene names
  counts.tsv      pandas to_csv(sep="\t"): header row and a first column of cell names
  names.txt       the cell names, then the gene names, one per line (what the tests expect)
  missing.h5      missing values: X (float64) with NaN at 8% of the entries (a fixed pattern),
                  X_filled = X with 1e6 at those entries, mask (uint8, 0 there) and mask_bool (bool)
  missing.h5ad    anndata: CSR X holding the same counts, NaN stored at the missing entries
  missing.txt     how many entries are missing
"""

import os
import sys
import warnings

try:
    import anndata
    import h5py
    import numpy as np
    import pandas as pd
    import scipy.io
    import scipy.sparse as sp
except ImportError as e:  # the tests show this message
    sys.exit(f"make_format_fixtures.py: {e}; run scripts/setup.sh --test to install anndata, scipy, h5py, numpy")

N_CELLS, N_GENES, RANK, SEED = 40, 25, 3, 20240601


def counts_matrix():
    """Planted rank-3 Poisson counts, cells x genes, with many zeros (a sparse matrix)."""
    rng = np.random.default_rng(SEED)
    w = rng.gamma(0.6, 1.0, size=(N_CELLS, RANK))
    h = rng.gamma(0.5, 2.0, size=(RANK, N_GENES))
    x = rng.poisson(w @ h).astype(np.int64)
    x[x.sum(axis=1) == 0, 0] = 1  # no all-zero cell
    return x


def names():
    rng = np.random.default_rng(SEED + 1)
    bases = np.array(list("ACGT"))
    cells = ["".join(rng.choice(bases, 16)) + "-1" for _ in range(N_CELLS)]
    genes = [f"Gene{j:02d}" for j in range(N_GENES)]
    ids = [f"ENSG{j:011d}" for j in range(N_GENES)]
    return cells, genes, ids


def main(out):
    os.makedirs(out, exist_ok=True)
    x = counts_matrix()
    cells, genes, ids = names()
    path = lambda name: os.path.join(out, name)  # noqa: E731
    str_dtype = h5py.string_dtype("utf-8")

    with h5py.File(path("dense.h5"), "w") as f:
        f.create_dataset("X", data=x.astype(np.float64))
        f.create_dataset("obs", data=np.array(cells, dtype=object), dtype=str_dtype)
        f.create_dataset("var", data=np.array(genes, dtype=object), dtype=str_dtype)

    obs = pd.DataFrame(index=pd.Index(cells, name="barcode"))
    var = pd.DataFrame({"gene_ids": ids}, index=pd.Index(genes, name="gene"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = anndata.AnnData(X=x.astype(np.float32), obs=obs, var=var)
        a.layers["half"] = x.astype(np.float64) / 2
        a.write_h5ad(path("dense.h5ad"))
        s = anndata.AnnData(X=sp.csr_matrix(x.astype(np.float64)), obs=obs, var=var)
        s.layers["counts"] = sp.csc_matrix(x)
        s.layers["log1p"] = sp.csr_matrix(np.log1p(x))
        s.write_h5ad(path("sparse.h5ad"))

    with h5py.File(path("groups.h5"), "w") as f:
        csr = sp.csr_matrix(x.astype(np.float64))
        g = f.create_group("csr")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = np.array(x.shape, dtype=np.int64)
        g.create_dataset("data", data=csr.data)
        g.create_dataset("indices", data=csr.indices.astype(np.int64))
        g.create_dataset("indptr", data=csr.indptr.astype(np.int64))
        csc = sp.csc_matrix(x.astype(np.int32))
        g = f.create_group("csc")
        g.create_dataset("data", data=csc.data)
        g.create_dataset("indices", data=csc.indices.astype(np.uint32))
        g.create_dataset("indptr", data=csc.indptr.astype(np.uint64))
        g.create_dataset("shape", data=np.array(x.shape, dtype=np.int32))
        g = f.create_group("csr_h5sparse")
        g.attrs["h5sparse_format"] = "csr"
        g.attrs["h5sparse_shape"] = np.array(x.shape, dtype=np.int64)
        g.create_dataset("data", data=csr.data.astype(np.float32))
        g.create_dataset("indices", data=csr.indices.astype(np.int32))
        g.create_dataset("indptr", data=csr.indptr.astype(np.int32))

    with h5py.File(path("tenx.h5"), "w") as f:
        f.attrs["filetype"] = "matrix"
        f.attrs["version"] = 2
        f.attrs["chemistry_description"] = "Single Cell 3' v3"
        f.attrs["library_ids"] = np.array([b"test"])
        m = f.create_group("matrix")
        genes_by_cells = sp.csc_matrix(x.T)  # features x barcodes, one column per barcode
        gz = dict(compression="gzip", compression_opts=4)
        m.create_dataset("barcodes", data=np.array(cells, dtype="S"), **gz)
        m.create_dataset("data", data=genes_by_cells.data.astype(np.int32), **gz)
        m.create_dataset("indices", data=genes_by_cells.indices.astype(np.int64), **gz)
        m.create_dataset("indptr", data=genes_by_cells.indptr.astype(np.int64), **gz)
        m.create_dataset("shape", data=np.array(genes_by_cells.shape, dtype=np.int32), **gz)
        feat = m.create_group("features")
        feat.create_dataset("id", data=np.array(ids, dtype="S"), **gz)
        feat.create_dataset("name", data=np.array(genes, dtype="S"), **gz)
        feat.create_dataset("feature_type", data=np.array(["Gene Expression"] * N_GENES, dtype="S"), **gz)
        feat.create_dataset("genome", data=np.array(["GRCh38"] * N_GENES, dtype="S"), **gz)
        feat.create_dataset("_all_tag_keys", data=np.array(["genome"], dtype="S"))

    scipy.io.mmwrite(path("counts.mtx"), sp.coo_matrix(x))
    scipy.io.mmwrite(path("counts_t.mtx"), sp.coo_matrix(x.T))
    np.savetxt(path("counts.csv"), x, fmt="%d", delimiter=",", header=",".join(genes), comments="")
    pd.DataFrame(x, index=pd.Index(cells), columns=genes).to_csv(path("counts.tsv"), sep="\t")

    with open(path("names.txt"), "w") as f:
        f.write("\n".join(cells + genes) + "\n")

    # Missing values: the same counts with 8% of the entries unobserved.
    gone = np.random.default_rng(SEED + 2).random(x.shape) < 0.08
    xm = x.astype(np.float64)
    xm[gone] = np.nan
    with h5py.File(path("missing.h5"), "w") as f:
        f.create_dataset("X", data=xm)
        f.create_dataset("X_filled", data=np.where(gone, 1e6, x.astype(np.float64)))
        f.create_dataset("mask", data=(~gone).astype(np.uint8))
        f.create_dataset("mask_bool", data=~gone)
    stored = (x != 0) | gone  # NaN entries must be stored explicitly in the sparse matrix
    rows, cols = np.nonzero(stored)
    csr = sp.csr_matrix((xm[rows, cols], (rows, cols)), shape=x.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anndata.AnnData(X=csr, obs=obs, var=var).write_h5ad(path("missing.h5ad"))
    with open(path("missing.txt"), "w") as f:
        f.write(f"{int(gone.sum())}\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
