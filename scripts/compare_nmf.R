# R side of scripts/compare.py: runs R's NMF package and RcppML on the matrix written by
# compare.py and writes back the factors, so that compare.py computes every tool's losses with
# one definition (in numpy).
#
# Usage (called by compare.py, not meant to be run by hand):
#   Rscript compare_nmf.R JOB X.bin NROW NCOL OUTDIR THREADS SEED NRUN MAXITER [RANK]
#
#   JOB      "nmf-brunet-sweep": NMF::nmf(X, 2:5, "brunet", nrun = NRUN, seed = SEED,
#                                         .options = "p<THREADS>"), best fit of each rank
#            "nmf-brunet":       NMF::nmf(X, RANK, "brunet", seed = SEED[, maxIter = MAXITER])
#            "nmf-lee":          NMF::nmf(X, RANK, "lee",    seed = SEED[, maxIter = MAXITER])
#            "rcppml":           RcppML::nmf(X, RANK, tol = 1e-4, seed = SEED), THREADS threads
#   X.bin    the matrix, NROW x NCOL, row-major, raw little-endian float64 (numpy's tofile)
#   MAXITER  0: the algorithm's default (2000 for NMF's methods); > 0: a cap on iterations
#   RANK     the rank of the single-rank jobs (default 10)
#
# Output in OUTDIR: for every fit, W_<r>.bin (NROW x r) and H_<r>.bin (r x NCOL), column-major
# raw little-endian float64 (R's own layout), and result.tsv with one line per rank:
#   rank  seconds  iterations  fits  n_rows  n_cols  x_sum
# `seconds` is the elapsed time of the one call that fits (NMF::nmf or RcppML::nmf), measured
# here, so R's start-up, package loading and reading the data are not counted. x_sum is the sum
# of X as R read it, which compare.py checks against its own (same matrix for every tool).

args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% c(9, 10))) stop("usage: compare_nmf.R JOB X.bin NROW NCOL OUTDIR THREADS SEED NRUN MAXITER [RANK]")
job <- args[1]
xfile <- args[2]
n <- as.integer(args[3])
p <- as.integer(args[4])
outdir <- args[5]
threads <- as.integer(args[6])
seed <- as.integer(args[7])
nrun <- as.integer(args[8])
maxiter <- as.integer(args[9])
rank <- if (length(args) == 10) as.integer(args[10]) else 10L

need <- if (job == "rcppml") "RcppML" else "NMF"
if (!requireNamespace(need, quietly = TRUE)) {
  stop(sprintf("R package '%s' is not installed (Debian: apt-get install r-cran-%s)", need, tolower(need)))
}

# Row-major file -> R matrix (byrow), n x p: the same orientation as nnmf-sweep's X.
X <- matrix(readBin(xfile, "double", n = n * p, size = 8, endian = "little"), nrow = n, ncol = p, byrow = TRUE)
stopifnot(all(dim(X) == c(n, p)))

write_factor <- function(m, path) writeBin(as.vector(m), path, size = 8, endian = "little")

rows <- list()
record <- function(r, W, H, seconds, iterations, fits) {
  stopifnot(all(dim(W) == c(n, r)), all(dim(H) == c(r, p)))
  write_factor(W, file.path(outdir, sprintf("W_%d.bin", r)))
  write_factor(H, file.path(outdir, sprintf("H_%d.bin", r)))
  rows[[length(rows) + 1]] <<- sprintf("%d\t%.6f\t%d\t%d\t%d\t%d\t%.17g", r, seconds, as.integer(iterations),
                                       as.integer(fits), n, p, sum(X))
}

# Elapsed seconds of one expression (wall clock, as compare.py measures the other tools).
timed <- function(expr) {
  t0 <- proc.time()[["elapsed"]]
  value <- expr
  list(value = value, seconds = proc.time()[["elapsed"]] - t0)
}

if (job == "nmf-brunet-sweep") {
  suppressPackageStartupMessages(library(NMF))
  # The classic setting (Brunet et al. 2004, NMF's vignette): KL multiplicative updates, ranks 2..5,
  # NRUN random restarts each, the package's default stopping rule (connectivity stationary for 40
  # iterations, checked every 10, at most 2000 iterations), THREADS parallel workers.
  # With a rank range, nmf() returns an NMF.rank object whose $fit holds the best fit (lowest
  # deviance) of each rank; its quality measures (cophenetic, dispersion, ...) are computed inside
  # the timed call, as nnmf-sweep's statistics are inside its run.
  res <- timed(NMF::nmf(X, 2:5, method = "brunet", nrun = nrun, seed = seed, .options = paste0("p", threads)))
  for (r in 2:5) {
    f <- res$value$fit[[as.character(r)]]
    # Wall time is for the whole sweep: reported on every rank, compare.py shows it once.
    record(r, NMF::basis(f), NMF::coef(f), res$seconds, NMF::niter(f), nrun)
  }
} else if (job %in% c("nmf-brunet", "nmf-lee")) {
  suppressPackageStartupMessages(library(NMF))
  method <- sub("nmf-", "", job)
  extra <- if (maxiter > 0) list(maxIter = maxiter) else list()
  res <- timed(do.call(NMF::nmf, c(list(X, rank, method = method, seed = seed), extra)))
  record(rank, NMF::basis(res$value), NMF::coef(res$value), res$seconds, NMF::niter(res$value), 1L)
} else if (job == "rcppml") {
  # RcppML 0.3.7's nmf() minimizes mean squared error only (no loss argument). It returns
  # w (n x k), d (k) and h (k x p) with A ~ w diag(d) h; its tol is the correlation distance between
  # consecutive w's; maxit defaults to 100.
  RcppML::setRcppMLthreads(threads)
  res <- timed(RcppML::nmf(X, rank, tol = 1e-4, seed = seed, verbose = FALSE))
  m <- res$value
  record(rank, m$w %*% diag(m$d), m$h, res$seconds, m$iter, 1L)
} else {
  stop(sprintf("unknown job '%s'", job))
}
writeLines(unlist(rows), file.path(outdir, "result.tsv"))
