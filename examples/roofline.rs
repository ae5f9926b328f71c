//! Roofline of one solver iteration: how far each update rule is from what this machine's dgemm
//! and memory bandwidth allow, all measured in one run, single-threaded (OpenBLAS 1 thread).
//!
//! ```text
//! cargo run --release --example roofline -- [--shapes 5000x38x3,5000x1000x10,20000x2000x20]
//!     [--solvers mu-kl,mu-frobenius,hals,cd-kl] [--reps 7] [--square 2000] [--bw-mib 768]
//!     [--tsv FILE]
//! ```
//!
//! Measured, round-robin (every repeat visits every item once, so a burst of load from other
//! processes hits all items alike; medians of the repeats are reported):
//! - dgemm rate: `linalg::matmul_into` (OpenBLAS `cblas_dgemm`) on a square product
//!   (`--square`, 2·n³ flops), and every product a solver takes at its own shapes, each also
//!   through faer (`Par::Seq`, a dev-dependency) for the GEMM backend choice;
//! - memory bandwidth: a read of three arrays of `--bw-mib` MiB each (sum, 8 accumulators), and a
//!   STREAM triad `a = b + s·c` over them, counted as 3 x 8 bytes per element (STREAM's
//!   convention: the write-allocate read of `a` is not counted, so true traffic is 4/3 of that);
//! - the division rate of the KL ratio loop `r = x / max(l, floor)` over an L2-resident block
//!   (vectorized, as in `mu_kl::ratio_block`): divisions are not flops at the dgemm rate;
//! - one iteration (`UpdateRule::step`) of each solver on planted counts of each shape, after
//!   3 warm-up iterations from a random start.
//!
//! Per iteration, with X N x p, rank r, d the fraction of entries of X that are > 0:
//!
//! | solver | flops (not counting divisions) | divisions | bytes, minimum |
//! |---|---|---|---|
//! | mu-kl | 8Npr (WH twice, WᵀR, RHᵀ) + 4(Nr + rp) | 2Np (X ⊘ WH, both halves) + Nr | 16Np + 32(Nr + rp) |
//! | mu-frobenius | 4Npr (WᵀX, XHᵀ) + 4Nr² + 4pr² (grams, WᵀWH, WHHᵀ) + 2(Nr + rp) | Nr + rp | 16Np + 32(Nr + rp) |
//! | hals | 4Npr + 2Nr² + 2pr² (products) + one sweep each: 2r²p + 6rp + 2Nr² + 7Nr | Nr + r | 16Np + 32(Nr + rp) |
//! | cd-kl | 4Npr (λ = WH, both halves) + Npr(2 + 14d) (Newton: 7 flops per x > 0, 2 per λ update) | 2dNpr | 16Np + 32(Nr + rp) |
//!
//! "bytes, minimum" is what must cross memory per iteration whatever the kernel: X read once per
//! half-step (f64), plus the factors a few times (negligible when p ≫ r). The rules as written
//! move that much except cd-kl, which also writes the model λ (N x p) and reads and writes it back
//! in its sweeps, both halves: 64Np (column "bytes impl"). HALS repeats its cheap sweeps up to
//! `1 + ⌊ρ/2⌋` times per half-step (Gillis & Glineur's rule); the floor counts one sweep, so
//! its time/floor includes that deliberate extra work. cd-kl's halvings of rejected decreasing
//! steps are not counted either.
//!
//! Floor = max(flops / dgemm rate, bytes minimum / read bandwidth), the issue's definition;
//! "floor+div" adds divisions / division rate to the flop term. The 5000 x 38 matrix (1.5 MB)
//! stays in the cache, so its bandwidth term is a DRAM bound it does not meet in practice.
//!
//! Everything is f64 (the element type of the core today); for f32 halve the bytes.

mod support;

use ndarray::{Array1, Array2};
use nnmf_sweep::linalg::{matmul_into, matmul_nt_into, matmul_tn_into, set_blas_threads};
use nnmf_sweep::nmf::init;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;
use support::{SolverCase, median, parse_shape, planted};

/// Shape of one product c (m x n) = op(a) op(b) with inner dimension k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// c = a b.
    Nn,
    /// c = aᵀ b.
    Tn,
    /// c = a bᵀ.
    Nt,
}

/// One product a solver takes, `count` times per iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Product {
    kind: Kind,
    m: usize,
    k: usize,
    n: usize,
    count: usize,
}

impl Product {
    fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n) as f64
    }

    fn label(&self) -> String {
        let k = match self.kind {
            Kind::Nn => "nn",
            Kind::Tn => "tn",
            Kind::Nt => "nt",
        };
        format!("{k} {}x{}x{}", self.m, self.k, self.n)
    }
}

/// Work of one iteration (see the module docs for the formulas).
struct Cost {
    flops: f64,
    divs: f64,
    bytes_min: f64,
    bytes_impl: f64,
    products: Vec<Product>,
}

/// Rows per block of mu-kl's ratio kernel: `RatioBlocks::new` (256 KiB of f64, at least 8 rows,
/// at most N). Copied here; keep in step with src/nmf/update/mu_kl.rs.
fn kl_block_rows(n: usize, p: usize) -> usize {
    (256 * 1024 / (8 * p.max(1))).max(8).min(n.max(1))
}

fn cost(case: SolverCase, n: usize, p: usize, r: usize, density: f64) -> Cost {
    let (nf, pf, rf) = (n as f64, p as f64, r as f64);
    let npr = nf * pf * rf;
    let bytes_min = 16.0 * nf * pf + 32.0 * (nf * rf + rf * pf);
    let pr = |kind, m, k, n, count| Product { kind, m, k, n, count };
    match case {
        SolverCase::MuKl => {
            let b = kl_block_rows(n, p);
            let blocks = n.div_ceil(b);
            Cost {
                flops: 8.0 * npr + 4.0 * (nf * rf + rf * pf),
                divs: 2.0 * nf * pf + nf * rf,
                bytes_min,
                bytes_impl: bytes_min,
                // H half: WH block, Wᵀ R block; W half: WH block, R Hᵀ block (block rows b).
                products: vec![
                    pr(Kind::Nn, b, r, p, 2 * blocks),
                    pr(Kind::Tn, r, b, p, blocks),
                    pr(Kind::Nt, b, p, r, blocks),
                ],
            }
        }
        SolverCase::MuFrobenius => Cost {
            flops: 4.0 * npr + 4.0 * nf * rf * rf + 4.0 * pf * rf * rf + 2.0 * (nf * rf + rf * pf),
            divs: nf * rf + rf * pf,
            bytes_min,
            bytes_impl: bytes_min,
            products: vec![
                pr(Kind::Tn, r, n, p, 1),
                pr(Kind::Tn, r, n, r, 1),
                pr(Kind::Nn, r, r, p, 1),
                pr(Kind::Nt, n, p, r, 1),
                pr(Kind::Nt, r, p, r, 1),
                pr(Kind::Nn, n, r, r, 1),
            ],
        },
        SolverCase::Hals => Cost {
            flops: 4.0 * npr
                + 2.0 * nf * rf * rf
                + 2.0 * pf * rf * rf
                + (2.0 * rf * rf * pf + 6.0 * rf * pf)
                + (2.0 * nf * rf * rf + 7.0 * nf * rf),
            divs: nf * rf + rf,
            bytes_min,
            bytes_impl: bytes_min,
            products: vec![
                pr(Kind::Tn, r, n, r, 1),
                pr(Kind::Tn, r, n, p, 1),
                pr(Kind::Nt, r, p, r, 1),
                pr(Kind::Nt, n, p, r, 1),
            ],
        },
        SolverCase::CdKl => Cost {
            flops: 4.0 * npr + npr * (2.0 + 14.0 * density),
            divs: 2.0 * density * npr,
            bytes_min,
            bytes_impl: 64.0 * nf * pf + 32.0 * (nf * rf + rf * pf),
            // (WH)ᵀ = Hᵀ Wᵀ (p x N) for the H half, WH (N x p) for the W half.
            products: vec![pr(Kind::Tn, p, r, n, 1), pr(Kind::Nn, n, r, p, 1)],
        },
    }
}

/// One measured item: a closure run `batch` times per sample.
struct Item {
    label: String,
    run: Box<dyn FnMut()>,
    batch: usize,
    samples: Vec<f64>,
}

impl Item {
    fn new(label: String, run: Box<dyn FnMut()>) -> Self {
        Item {
            label,
            run,
            batch: 1,
            samples: Vec::new(),
        }
    }

    /// Warm-up call, then a batch size that makes one sample last about `target_s`.
    fn calibrate(&mut self, target_s: f64) {
        (self.run)();
        let t0 = Instant::now();
        (self.run)();
        let once = t0.elapsed().as_secs_f64().max(1e-7);
        self.batch = ((target_s / once).ceil() as usize).clamp(1, 100_000);
    }

    fn sample(&mut self) {
        let t0 = Instant::now();
        for _ in 0..self.batch {
            (self.run)();
        }
        self.samples.push(t0.elapsed().as_secs_f64() / self.batch as f64);
    }

    fn median(&self) -> f64 {
        median(&self.samples)
    }

    fn spread(&self) -> (f64, f64) {
        let lo = self.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.samples.iter().copied().fold(0.0, f64::max);
        (lo, hi)
    }
}

fn filled(rows: usize, cols: usize, seed: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        0.5 + ((i * 31 + j * 17 + seed) % 97) as f64 / 97.0
    })
}

/// An item timing one product of shape `pr` through `linalg` (OpenBLAS), or through faer
/// (`Par::Seq`, row-major views of the same arrays) when `faer` is set; buffers allocated once.
fn product_item(label: String, pr: Product, faer: bool) -> Item {
    let (a, b) = match pr.kind {
        Kind::Nn => (filled(pr.m, pr.k, 1), filled(pr.k, pr.n, 2)),
        Kind::Tn => (filled(pr.k, pr.m, 1), filled(pr.k, pr.n, 2)),
        Kind::Nt => (filled(pr.m, pr.k, 1), filled(pr.n, pr.k, 2)),
    };
    let mut c = Array2::zeros((pr.m, pr.n));
    if faer {
        return Item::new(
            label,
            Box::new(move || {
                let fa =
                    faer::MatRef::from_row_major_slice(a.as_slice().expect("standard layout"), a.nrows(), a.ncols());
                let fb =
                    faer::MatRef::from_row_major_slice(b.as_slice().expect("standard layout"), b.nrows(), b.ncols());
                let (lhs, rhs) = match pr.kind {
                    Kind::Nn => (fa, fb),
                    Kind::Tn => (fa.transpose(), fb),
                    Kind::Nt => (fa, fb.transpose()),
                };
                let dst =
                    faer::MatMut::from_row_major_slice_mut(c.as_slice_mut().expect("standard layout"), pr.m, pr.n);
                faer::linalg::matmul::matmul(dst, faer::Accum::Replace, lhs, rhs, 1.0, faer::Par::Seq);
            }),
        );
    }
    Item::new(
        label,
        Box::new(move || match pr.kind {
            Kind::Nn => matmul_into(a.view(), b.view(), c.view_mut()),
            Kind::Tn => matmul_tn_into(a.view(), b.view(), c.view_mut()),
            Kind::Nt => matmul_nt_into(a.view(), b.view(), c.view_mut()),
        }),
    )
}

struct Args {
    shapes: Vec<(usize, usize, usize)>,
    solvers: Vec<SolverCase>,
    reps: usize,
    square: usize,
    bw_mib: usize,
    tsv: Option<String>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "roofline: {msg}\nusage: roofline [--shapes NxPxR,...] [--solvers mu-kl,mu-frobenius,hals,cd-kl] \
         [--reps 7] [--square 2000] [--bw-mib 768] [--tsv FILE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        shapes: vec![(5000, 38, 3), (5000, 1000, 10), (20000, 2000, 20)],
        solvers: SolverCase::ALL.to_vec(),
        reps: 7,
        square: 2000,
        bw_mib: 768,
        tsv: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let num = |v: String| v.parse::<usize>().unwrap_or_else(|_| usage(&format!("bad number {v}")));
        match flag.as_str() {
            "--shapes" => {
                a.shapes = val()
                    .split(',')
                    .map(|s| parse_shape(s, 10).unwrap_or_else(|| usage(&format!("bad shape {s}"))))
                    .collect()
            }
            "--solvers" => {
                a.solvers = val()
                    .split(',')
                    .map(|s| SolverCase::parse(s).unwrap_or_else(|| usage(&format!("unknown solver {s}"))))
                    .collect()
            }
            "--reps" => a.reps = num(val()).max(1),
            "--square" => a.square = num(val()).max(64),
            "--bw-mib" => a.bw_mib = num(val()).max(1),
            "--tsv" => a.tsv = Some(val()),
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a
}

/// Solver iteration state for one (shape, solver).
struct SolverRun {
    shape: (usize, usize, usize),
    case: SolverCase,
    cost: Cost,
    item: usize,
    /// Item indices of this solver's products (with their per-iteration counts).
    products: Vec<(usize, usize)>,
}

fn main() {
    let args = parse_args();
    set_blas_threads(1);
    let mut items: Vec<Item> = Vec::new();

    // dgemm, square.
    let sq = args.square;
    let square = Product {
        kind: Kind::Nn,
        m: sq,
        k: sq,
        n: sq,
        count: 1,
    };
    items.push(product_item(format!("dgemm {sq}^3"), square, false));
    let i_square = 0;

    // Bandwidth: three arrays of bw_mib MiB.
    let len = args.bw_mib * 1024 * 1024 / 8;
    let arrays = Rc::new(RefCell::new((
        Array1::from_elem(len, 1.0f64),
        Array1::from_elem(len, 2.0f64),
        Array1::from_elem(len, 0.5f64),
    )));
    let sink = Rc::new(RefCell::new(0.0f64));
    {
        let (arr, sink) = (Rc::clone(&arrays), Rc::clone(&sink));
        items.push(Item::new(
            "read 3 arrays".into(),
            Box::new(move || {
                let g = arr.borrow();
                let mut acc = [0.0f64; 8];
                for v in [&g.0, &g.1, &g.2] {
                    let s = v.as_slice().expect("contiguous array");
                    for ch in s.chunks_exact(8) {
                        for (a, x) in acc.iter_mut().zip(ch) {
                            *a += x;
                        }
                    }
                }
                *sink.borrow_mut() += acc.iter().sum::<f64>();
            }),
        ));
    }
    let i_read = 1;
    {
        let arr = Rc::clone(&arrays);
        items.push(Item::new(
            "triad a = b + s c".into(),
            Box::new(move || {
                let mut g = arr.borrow_mut();
                let (a, b, c) = &mut *g;
                ndarray::Zip::from(a)
                    .and(&*b)
                    .and(&*c)
                    .for_each(|a, &b, &c| *a = b + 0.5 * c);
            }),
        ));
    }
    let i_triad = 2;
    // Division rate, as in mu_kl::ratio_block, over 32768 entries (768 KiB for the three arrays).
    const DIV_LEN: usize = 32768;
    {
        let x = Array1::from_shape_fn(DIV_LEN, |i| (i % 7) as f64);
        let mut l = Array1::from_shape_fn(DIV_LEN, |i| 1.0 + (i % 13) as f64);
        items.push(Item::new(
            format!("x / max(l, floor), {DIV_LEN} entries"),
            Box::new(move || {
                ndarray::Zip::from(&mut l)
                    .and(&x)
                    .for_each(|l, &x| *l = 1.0 + x / l.max(1e-150));
            }),
        ));
    }
    let i_div = 3;

    // Products at the solvers' shapes and one iteration of each solver.
    let mut runs = Vec::new();
    let mut densities = Vec::new();
    for &(n, p, r) in &args.shapes {
        let x = Rc::new(planted(n, p, r, 1));
        let density = x.iter().filter(|v| **v > 0.0).count() as f64 / (n * p) as f64;
        densities.push(((n, p, r), density));
        let mean = x.mean().unwrap_or(1.0);
        let mut shape_products: Vec<(Product, usize)> = Vec::new();
        for &case in &args.solvers {
            let c = cost(case, n, p, r, density);
            let mut prods = Vec::new();
            for pr in &c.products {
                let key = Product { count: 1, ..*pr };
                let idx = match shape_products.iter().find(|(q, _)| *q == key) {
                    Some((_, i)) => *i,
                    None => {
                        // OpenBLAS at index i, faer's twin at i + 1.
                        items.push(product_item(format!("{n}x{p} r{r}: {}", key.label()), key, false));
                        items.push(product_item(format!("{n}x{p} r{r}: {} faer", key.label()), key, true));
                        shape_products.push((key, items.len() - 2));
                        items.len() - 2
                    }
                };
                prods.push((idx, pr.count));
            }
            let (mut w, mut h) = init::random(&mut nnmf_sweep::rng::fit_rng(1), n, p, r, mean);
            // The rule borrows its data for the life of the measurement closure: a measurement
            // tool, so the matrix is leaked rather than reference-counted.
            let data: &'static nnmf_sweep::nmf::FitMatrix =
                Box::leak(Box::new(nnmf_sweep::nmf::FitMatrix::new((*x).clone())));
            let mut rule = case.rule::<f64>(data, r);
            for _ in 0..3 {
                SolverCase::step(rule.as_mut(), &mut w, &mut h);
            }
            items.push(Item::new(
                format!("{n}x{p} r{r}: {} iteration", case.name()),
                Box::new(move || SolverCase::step(rule.as_mut(), &mut w, &mut h)),
            ));
            runs.push(SolverRun {
                shape: (n, p, r),
                case,
                cost: c,
                item: items.len() - 1,
                products: prods,
            });
        }
    }

    let load0 = load_average();
    let t_start = Instant::now();
    eprintln!("roofline: calibrating {} items", items.len());
    for it in items.iter_mut() {
        it.calibrate(0.05);
    }
    for rep in 0..args.reps {
        eprintln!(
            "roofline: repeat {}/{} ({:.0} s so far)",
            rep + 1,
            args.reps,
            t_start.elapsed().as_secs_f64()
        );
        for it in items.iter_mut() {
            it.sample();
        }
    }
    let load1 = load_average();
    // Keep the read kernel's result observable.
    std::hint::black_box(*sink.borrow());

    // Machine rates.
    let dgemm = square.flops() / items[i_square].median();
    let arr_bytes = 3.0 * (len * 8) as f64;
    let read_bw = arr_bytes / items[i_read].median();
    let triad_bw = arr_bytes / items[i_triad].median();
    let div_rate = DIV_LEN as f64 / items[i_div].median();
    let mut tsv = String::from("kind\tshape\tname\tseconds_median\tseconds_min\tseconds_max\tvalue\tunit\n");
    println!(
        "# roofline: 1 BLAS thread, {} repeats round-robin, medians; load average {load0:.2} before, {load1:.2} after, {:.0} s",
        args.reps,
        t_start.elapsed().as_secs_f64()
    );
    println!();
    println!("| machine | median s | min..max s | rate |");
    println!("|---|---:|---:|---:|");
    let rates = [
        (i_square, dgemm / 1e9, "GFLOP/s"),
        (i_read, read_bw / 1e9, "GB/s"),
        (i_triad, triad_bw / 1e9, "GB/s (STREAM count)"),
        (i_div, div_rate / 1e9, "G divisions/s"),
    ];
    for (i, v, unit) in rates {
        let it = &items[i];
        let (lo, hi) = it.spread();
        println!(
            "| {} | {:.4} | {lo:.4}..{hi:.4} | {v:.2} {unit} |",
            it.label,
            it.median()
        );
        tsv += &format!("machine\t-\t{}\t{}\t{lo}\t{hi}\t{v}\t{unit}\n", it.label, it.median());
    }
    println!(
        "\nbandwidth arrays: 3 x {} MiB = {:.2} GiB",
        args.bw_mib,
        arr_bytes / (1u64 << 30) as f64
    );
    for ((n, p, r), d) in &densities {
        println!("density of X {n}x{p} (planted rank {r}): {:.3} of entries > 0", d);
    }

    println!();
    println!(
        "| product (m x k x n) | OpenBLAS median s | GFLOP/s | vs square dgemm | faer GFLOP/s | faer time / OpenBLAS |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut shown = std::collections::BTreeSet::new();
    for run in &runs {
        for &(i, _) in &run.products {
            if !shown.insert(i) {
                continue;
            }
            let it = &items[i];
            let pr = product_of(run, i, &runs);
            let g = pr.flops() / it.median() / 1e9;
            let fa = &items[i + 1];
            let gf = pr.flops() / fa.median() / 1e9;
            println!(
                "| {} | {:.3e} | {g:.2} | {:.2} | {gf:.2} | {:.2} |",
                it.label,
                it.median(),
                g / (dgemm / 1e9),
                fa.median() / it.median()
            );
            for x in [it, fa] {
                let (lo, hi) = x.spread();
                let gx = pr.flops() / x.median() / 1e9;
                tsv += &format!("product\t-\t{}\t{}\t{lo}\t{hi}\t{gx}\tGFLOP/s\n", x.label, x.median());
            }
        }
    }

    println!();
    println!(
        "| shape | solver | s/iter | GFLOP | M div | GB min (impl) | GFLOP/s | % dgemm | GB/s | % read bw \
         | products at own shapes s (faer) | floor s | time/floor | floor+div s | time/(floor+div) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in &runs {
        let (n, p, r) = run.shape;
        let it = &items[run.item];
        let t = it.median();
        let c = &run.cost;
        let gemm_own: f64 = run.products.iter().map(|&(i, k)| items[i].median() * k as f64).sum();
        let faer_own: f64 = run
            .products
            .iter()
            .map(|&(i, k)| items[i + 1].median() * k as f64)
            .sum();
        let floor = (c.flops / dgemm).max(c.bytes_min / read_bw);
        let floor_div = (c.flops / dgemm + c.divs / div_rate).max(c.bytes_min / read_bw);
        println!(
            "| {n}x{p} r{r} | {} | {t:.3e} | {:.4} | {:.2} | {:.4} ({:.4}) | {:.2} | {:.0}% | {:.2} | {:.0}% | {gemm_own:.3e} ({faer_own:.3e}) | {floor:.3e} | {:.2} | {floor_div:.3e} | {:.2} |",
            run.case.name(),
            c.flops / 1e9,
            c.divs / 1e6,
            c.bytes_min / 1e9,
            c.bytes_impl / 1e9,
            c.flops / t / 1e9,
            100.0 * c.flops / t / dgemm,
            c.bytes_min / t / 1e9,
            100.0 * c.bytes_min / t / read_bw,
            t / floor,
            t / floor_div,
        );
        let (lo, hi) = it.spread();
        tsv += &format!(
            "solver\t{n}x{p}x{r}\t{}\t{t}\t{lo}\t{hi}\t{}\ttime/floor\n",
            run.case.name(),
            t / floor
        );
    }
    println!();
    println!(
        "floor = max(GFLOP / dgemm rate, GB min / read bandwidth); floor+div adds divisions / division rate \
         to the flop term. `products at own shapes` = the measured time of the products this solver takes per \
         iteration, at their shapes (sum; in parentheses the same products through faer, Par::Seq). Formulas: examples/roofline.rs."
    );
    if let Some(path) = &args.tsv
        && let Err(e) = std::fs::write(path, tsv)
    {
        eprintln!("roofline: cannot write {path}: {e}");
        std::process::exit(1);
    }
}

/// The product (shape) behind item `i`, from any run that uses it.
fn product_of(run: &SolverRun, i: usize, runs: &[SolverRun]) -> Product {
    runs.iter()
        .filter(|q| q.shape == run.shape)
        .flat_map(|q| q.cost.products.iter().zip(q.products.iter()))
        .find(|(_, (j, _))| *j == i)
        .map(|(pr, _)| *pr)
        .expect("every product item belongs to a run")
}

/// The 1-minute load average (0 where /proc is unavailable).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}
