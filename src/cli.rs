//! The command line: parses flags, runs the sweep, prints the summary or the error, and maps the
//! error to its documented exit code (see `error.rs` and the README).

use crate::config::{self, Overrides};
use crate::error::{Error, Result};
use crate::report;
use crate::simulate::{self, Planted};
use crate::sweep;
use crate::{app, record};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Non-negative matrix factorization sweeps: every rank of a range, many random restarts each,
/// the best-likelihood fit per rank, every fit recorded.
#[derive(Debug, Parser)]
#[command(
    name = "nnmf-sweep",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
#[command(
    after_help = "Exit codes: 0 success, 1 internal error, 2 bad command line or config, \
3 bad input data, 4 output directory problem, 5 numerical failure, 6 incomplete (stopped by \
SIGTERM/SIGINT, or fits missing at merge): run the same command again to resume.\n\
The README documents every config key."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

/// `nnmf-sweep CONFIG [flags]`: run a sweep.
#[derive(Debug, Args)]
struct RunArgs {
    /// The sweep's TOML config file (relative paths inside it start at its folder).
    #[arg(required = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    flags: SweepFlags,
    /// Overwrite results already in the output directory (and discard its fit records).
    #[arg(long)]
    force: bool,
    /// Run only shard I of N (0 ≤ I < N) of the grid and store its fits, without merging; by
    /// default taken from a Slurm array task (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT).
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
}

/// The flags of every command that runs a sweep (`nnmf-sweep CONFIG`, `compare`).
#[derive(Debug, Args)]
struct SweepFlags {
    /// Worker threads, overriding [run] threads (0: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Output directory, overriding [output] dir (relative to the current directory).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print nothing but errors (no progress, warnings or summary).
    #[arg(long, short)]
    quiet: bool,
}

impl SweepFlags {
    /// The checked plan of the config at `path` (made absolute, so that merge, in another
    /// directory or on another node, finds the data again) with these flags' overrides, the
    /// progress display, and the cancellation flag the signal handlers set.
    fn load(self, path: PathBuf) -> Result<(PathBuf, config::Plan, Box<dyn crate::progress::Observer>, Cancel)> {
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let plan = config::load(
            &path,
            &Overrides {
                threads: self.threads,
                out: self.out,
            },
        )?;
        Ok((
            path,
            plan,
            crate::progress::for_stderr(self.quiet),
            crate::interrupt::flag()?,
        ))
    }
}

/// The flag the signal handlers set.
type Cancel = std::sync::Arc<std::sync::atomic::AtomicBool>;

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a planted low-rank Poisson count matrix to HDF5 (datasets X, W_true, H_true).
    Simulate(SimulateArgs),
    /// Build results.h5, the tables and the plots of OUTDIR from its stored fit records.
    Merge(MergeArgs),
    /// Show the fits done and missing in OUTDIR, per rank and kind and per shard.
    Status(StatusArgs),
    /// Compare NMF with PCA, vector quantization (k-means) and spatial ICA (FastICA) at every rank:
    /// compare.tsv, and the four bases as images side by side when [data] image_shape is set.
    Compare(CompareArgs),
    /// Score new observations against the components of a finished sweep without refitting (H
    /// fixed, W solved): projection.h5 and memberships.tsv; --fix w solves new features instead.
    Project(ProjectArgs),
}

/// Which factor `project` holds fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FixArg {
    /// The components H: new observations get W (memberships).
    H,
    /// The memberships W: new features of the same observations get H (loadings).
    W,
}

#[derive(Debug, Args)]
struct ProjectArgs {
    /// The output directory of a finished sweep (its results.h5 holds the model).
    model_dir: PathBuf,
    /// The new data file, in any input format.
    data: PathBuf,
    /// The matrix inside an HDF5 file (as [data] dataset).
    #[arg(long, value_name = "D")]
    dataset: Option<String>,
    /// The file's format (as [data] format; default: detected).
    #[arg(long, value_name = "F")]
    format: Option<String>,
    /// AnnData layer (as [data] layer).
    #[arg(long, value_name = "L")]
    layer: Option<String>,
    /// The file stores observations as columns.
    #[arg(long)]
    transpose: bool,
    /// 1-D dataset of the observations' names (HDF5; as [data] obs_names).
    #[arg(long, value_name = "D")]
    obs_names: Option<String>,
    /// 1-D dataset of the features' names (HDF5; as [data] var_names): features are matched by
    /// name when the training data had names too.
    #[arg(long, value_name = "D")]
    var_names: Option<String>,
    /// The rank whose best fit is used (default: the sweep's chosen rank).
    #[arg(long, value_name = "R")]
    rank: Option<usize>,
    /// The factor held fixed.
    #[arg(long, value_enum, default_value = "h")]
    fix: FixArg,
    /// Output directory for projection.h5 and the table.
    #[arg(long, value_name = "DIR", default_value = "projection")]
    out: PathBuf,
    /// Overwrite a previous projection in the output directory.
    #[arg(long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The sweep's TOML config file. Its sweep is run (or resumed) first; a finished output
    /// directory of the same config is reused without refitting.
    config: PathBuf,
    #[command(flatten)]
    flags: SweepFlags,
    /// Run the sweep again even if the output directory holds finished results.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// The sweep's output directory (holding sweep-manifest.txt and records/).
    outdir: PathBuf,
    /// Build a result from the fits done even when some are missing (listed in partial.txt).
    #[arg(long)]
    allow_partial: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The sweep's output directory.
    outdir: PathBuf,
    /// Count per shard for N shards (default: the N recorded by the shard runs, if any).
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// The HDF5 file to create.
    #[arg(long, value_name = "FILE", required_unless_present = "volumes")]
    out: Option<PathBuf>,
    /// Observations N (rows of X) [default: 300]; with --volumes, subjects [default: 40].
    #[arg(long)]
    rows: Option<usize>,
    /// Features p (columns of X).
    #[arg(long, default_value_t = 200)]
    cols: usize,
    /// Planted rank.
    #[arg(long, default_value_t = 4)]
    rank: usize,
    /// Mean of the planted H's entries (the counts' scale).
    #[arg(long, default_value_t = 10.0)]
    mean: f64,
    /// Weight of minor memberships in the planted W.
    #[arg(long, default_value_t = 0.1)]
    mix: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Overdispersed counts: negative-binomial size k (variance λ + λ²/k); default Poisson.
    #[arg(long, value_name = "K")]
    dispersion: Option<f64>,
    /// Overwrite FILE if it exists (with --volumes: the files it writes into DIR).
    #[arg(long)]
    force: bool,
    /// Write Hoyer's bars images instead: SIDE x SIDE images (--rows of them), each a few of the
    /// 2·SIDE horizontal and vertical bars plus a little noise (--rank, --mean, --mix and
    /// --dispersion do not apply).
    #[arg(long, value_name = "SIDE")]
    bars: Option<usize>,
    /// With --bars: probability that a bar is present in an image.
    #[arg(long, value_name = "P", default_value_t = 0.125)]
    bar_prob: f64,
    /// With --bars: mean of the exponential noise added to every pixel (bars have height 0.5-1.5).
    #[arg(long, value_name = "M", default_value_t = 0.05)]
    noise: f64,
    /// Write planted 3-D volumes as NIfTI into directory DIR instead: --rows subjects, each a
    /// mixture of --rank smooth "tissue" maps in an ellipsoidal mask plus Poisson noise (--mean:
    /// a map's peak count, --mix: minor weights), one subject_NNN.nii.gz each, all_subjects.nii
    /// (4-D), mask.nii.gz, truth_components.nii.gz and truth_weights.tsv.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "bars", "cols", "bar_prob", "noise"])]
    volumes: Option<PathBuf>,
    /// With --volumes: voxels along x, y and z [default: 24,28,24].
    #[arg(
        long,
        value_name = "X,Y,Z",
        value_delimiter = ',',
        requires = "volumes",
        conflicts_with = "out"
    )]
    grid: Option<Vec<usize>>,
    /// With --volumes: side of a (cubic) voxel in mm [default: 4].
    #[arg(long, value_name = "MM", requires = "volumes", conflicts_with = "out")]
    voxel_size: Option<f64>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // First of all, so that a signal in any phase ends the run with exit 6 and a message.
    if let Err(e) = crate::interrupt::install() {
        eprintln!("error: {e}");
        return ExitCode::from(e.exit_code());
    }
    let cli = Cli::parse();
    // Every product runs on one BLAS thread (parallelism is rayon's, across or inside fits):
    // multi-threaded BLAS does not promise the same bits for every thread count.
    crate::linalg::set_blas_threads(1);
    let result = run(cli);
    crate::interrupt::exiting();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Simulate(a)) => simulate_cmd(a),
        Some(Command::Merge(a)) => merge_cmd(a),
        Some(Command::Status(a)) => status_cmd(a),
        Some(Command::Compare(a)) => compare_cmd(a),
        Some(Command::Project(a)) => project_cmd(a),
        None => sweep_cmd(cli.run),
    }
}

fn sweep_cmd(a: RunArgs) -> Result<()> {
    let shard = match &a.shard {
        Some(text) => Some(sweep::Shard::parse(text, "--shard")?),
        None => sweep::Shard::from_env(|k| std::env::var(k).ok())?,
    };
    let quiet = a.flags.quiet;
    let (_, plan, mut obs, cancel) = a.flags.load(a.config.unwrap_or_default())?;
    let opts = app::RunOptions {
        force: a.force,
        shard,
        check_data: None,
    };
    let command = if a.force {
        "nnmf-sweep run --force"
    } else {
        "nnmf-sweep run"
    };
    match app::run_plan(&plan, None, opts, command, obs.as_mut(), &cancel)? {
        app::Outcome::Merged(r) => {
            if !quiet {
                print_results(&r, plan.loss.name(), &plan.out_dir);
            }
        }
        app::Outcome::Shard {
            shard,
            computed,
            skipped,
        } => {
            if !quiet {
                println!(
                    "shard {shard}: its {} fits are stored ({computed} computed now, {skipped} found done); \
                     when every shard has finished, run: nnmf-sweep merge {}",
                    computed + skipped,
                    plan.out_dir.display()
                );
            }
        }
    }
    Ok(())
}

fn print_results(r: &app::Results, loss: &str, out: &std::path::Path) {
    print!("{}", report::summary_table(&r.collected.ranks, &r.decision, loss));
    if let Some(v) = &r.voxels {
        println!("voxels: {v}");
    }
    let (gone, all) = r.missing_values;
    if gone > 0 {
        println!(
            "missing values: {gone} of {all} entries ({:.3}%), left out of every fit",
            100.0 * gone as f64 / all as f64
        );
    }
    if !r.missing.is_empty() {
        println!(
            "PARTIAL result: {} fits missing ({})",
            r.missing.len(),
            app::describe_jobs(&r.missing, 10)
        );
    }
    println!("results in {}", out.display());
}

fn merge_cmd(a: MergeArgs) -> Result<()> {
    let mut obs = crate::progress::for_stderr(a.quiet);
    let cancel = crate::interrupt::flag()?;
    let out = app::open_for_merge(&a.outdir, "nnmf-sweep merge")?;
    let r = app::merge(&out, a.allow_partial, obs.as_mut(), &cancel)?;
    if !a.quiet {
        let (plan, _) = app::plan_of_dir(&a.outdir)?;
        print_results(&r, plan.loss.name(), &a.outdir);
    }
    Ok(())
}

fn status_cmd(a: StatusArgs) -> Result<()> {
    if a.shards == Some(0) {
        return Err(Error::Shard {
            source_name: "--shards".into(),
            message: "must be at least 1".into(),
        });
    }
    if let Some(n) = a.shards.filter(|&n| n > crate::limits::MAX_SHARDS) {
        return Err(Error::Shard {
            source_name: "--shards".into(),
            message: format!("must be at most {} (got {n})", crate::limits::MAX_SHARDS),
        });
    }
    let (plan, states) = app::job_states(&a.outdir)?;
    print!(
        "{}",
        status_text(
            &a.outdir,
            &plan,
            &states,
            a.shards.or_else(|| app::recorded_shards(&a.outdir))
        )
    );
    Ok(())
}

/// The status report: totals, a table per rank and kind, one per shard, the missing fits.
fn status_text(
    out: &std::path::Path,
    plan: &config::Plan,
    states: &[(record::Job, record::store::RecordState)],
    shards: Option<usize>,
) -> String {
    use record::store::RecordState;
    use std::fmt::Write;
    let done = |s: &RecordState| matches!(s, RecordState::Done(_));
    let total_done = states.iter().filter(|(_, s)| done(s)).count();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "sweep in {}: {total_done} of {} fits done, {} missing",
        out.display(),
        states.len(),
        states.len() - total_done
    );
    let _ = writeln!(t, "{:>4}  {:<8}{:>6}{:>9}", "rank", "kind", "done", "missing");
    for &rank in &plan.ranks {
        for kind in [record::JobKind::Fit, record::JobKind::Heldout, record::JobKind::Null] {
            let of: Vec<_> = states
                .iter()
                .filter(|(j, _)| j.rank == rank && j.kind == kind)
                .collect();
            if of.is_empty() {
                continue;
            }
            let d = of.iter().filter(|(_, s)| done(s)).count();
            let _ = writeln!(t, "{rank:>4}  {:<8}{d:>6}{:>9}", kind.name(), of.len() - d);
        }
    }
    if let Some(n) = shards {
        let jobs: Vec<record::Job> = states.iter().map(|(j, _)| *j).collect();
        let of = app::shard_of(&jobs, n);
        let _ = writeln!(t, "{:>5}  {:>6}{:>9}   (of {n} shards)", "shard", "done", "missing");
        // One pass over the jobs; shards beyond the jobs hold none and are summed in one line.
        let mut counts = vec![(0usize, 0usize); n.min(jobs.len())];
        for ((_, s), &sh) in states.iter().zip(&of) {
            let c = &mut counts[sh];
            if done(s) {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
        for (k, (d, m)) in counts.iter().enumerate() {
            let _ = writeln!(t, "{k:>5}  {d:>6}{m:>9}");
        }
        if n > counts.len() {
            let _ = writeln!(
                t,
                "shards {} to {}: no fits (more shards than fits)",
                counts.len(),
                n - 1
            );
        }
    }
    let damaged: Vec<record::Job> = states
        .iter()
        .filter(|(_, s)| matches!(s, RecordState::Damaged))
        .map(|(j, _)| *j)
        .collect();
    if !damaged.is_empty() {
        let _ = writeln!(
            t,
            "damaged records (recomputed by the next run): {}",
            app::describe_jobs(&damaged, 20)
        );
    }
    let other: Vec<record::Job> = states
        .iter()
        .filter(|(_, s)| matches!(s, RecordState::OtherPlan))
        .map(|(j, _)| *j)
        .collect();
    if !other.is_empty() {
        let _ = writeln!(
            t,
            "records of another sweep (refused): {}",
            app::describe_jobs(&other, 20)
        );
    }
    let missing: Vec<record::Job> = states.iter().filter(|(_, s)| !done(s)).map(|(j, _)| *j).collect();
    if missing.is_empty() {
        let _ = writeln!(
            t,
            "complete: run `nnmf-sweep merge {}` to build the results",
            out.display()
        );
    } else {
        let _ = writeln!(t, "missing: {}", app::describe_jobs(&missing, 20));
    }
    t
}

/// `project MODEL_DIR DATA`: every check and the solve first, then the output directory is
/// opened and written.
fn project_cmd(a: ProjectArgs) -> Result<()> {
    use crate::app::project::{self, Fixed, ProjectOptions};
    let mut data = project::data_spec(a.data, a.format.as_deref(), a.dataset, a.layer, a.transpose)?;
    data.obs_names = a.obs_names;
    data.var_names = a.var_names;
    let opts = ProjectOptions {
        model_dir: a.model_dir,
        data,
        rank: a.rank,
        fix: match a.fix {
            FixArg::H => Fixed::H,
            FixArg::W => Fixed::W,
        },
        out: a.out,
        force: a.force,
    };
    if opts.out.join(crate::outdir::PROJECTION_H5).exists() && !opts.force {
        return Err(Error::OutputExists {
            dir: opts.out.clone(),
            found: crate::outdir::PROJECTION_H5.to_string(),
        });
    }
    let (_, _, projected) = project::project(&opts)?;
    let _lock = project::open_out(&opts)?;
    report::projection::write_projection(&opts.out, opts.fix, &opts.data.path, &projected)?;
    if !a.quiet {
        let m = &projected.matching;
        let rows = projected.row_loss.len();
        let (what, table) = match opts.fix {
            Fixed::H => ("observations", crate::outdir::PROJECTION_MEMBERSHIPS),
            Fixed::W => ("features", crate::outdir::PROJECTION_LOADINGS),
        };
        let shared = if opts.fix == Fixed::H {
            "features"
        } else {
            "observations"
        };
        if m.missing_count > 0 {
            eprintln!(
                "warning: {} of the model's {shared} are missing from the data ({:.1}% of the fixed factor's mass), \
                 e.g. {}; the projection uses the {} found",
                m.missing_count,
                100.0 * m.missing_mass,
                m.missing.join(", "),
                m.matched
            );
        }
        if m.extra_count > 0 {
            eprintln!(
                "warning: {} {shared} of the data are not in the model and are left out",
                m.extra_count
            );
        }
        if projected.unconverged > 0 {
            eprintln!(
                "warning: {} rows did not converge within {} sweeps",
                projected.unconverged,
                crate::nmf::project::MAX_SWEEPS
            );
        }
        let mean = projected.explained.iter().filter(|v| v.is_finite()).sum::<f64>()
            / projected.explained.iter().filter(|v| v.is_finite()).count().max(1) as f64;
        println!(
            "projected {rows} {what} onto rank {} ({} {shared} matched by {}); mean fraction explained {mean:.4}; \
             {} and {table} in {}",
            projected.rank,
            m.matched,
            m.by,
            crate::outdir::PROJECTION_H5,
            opts.out.display()
        );
    }
    Ok(())
}

/// `compare CONFIG`: the sweep (run, resumed, or reused when finished), then NMF beside PCA, VQ
/// and ICA at every rank (`compare::write`).
fn compare_cmd(a: CompareArgs) -> Result<()> {
    let quiet = a.flags.quiet;
    let (path, plan, mut obs, cancel) = a.flags.load(a.config)?;
    // Held for the whole command: the sweep (or the reused result) and compare's own files.
    let out = app::open_for_run(&plan, "nnmf-sweep compare", None)?;
    let dir = &plan.out_dir;
    let results = if crate::outdir::is_finished(dir) && !a.force {
        let (stored, _) = app::plan_of_dir(dir)?;
        if stored.config_text != plan.config_text {
            return Err(Error::OtherSweep {
                dir: dir.clone(),
                differs: format!("its results are of another config than {}", path.display()),
            });
        }
        app::merge(&out, false, obs.as_mut(), &cancel)?
    } else {
        let opts = app::RunOptions {
            force: a.force,
            shard: None,
            // Before any fit: k-means needs r observations (the sweep alone allows r up to
            // max(N, p)). A finished sweep is checked by compare::write, before its k-means.
            check_data: Some(|plan, data| crate::app::compare::check_ranks(plan, data.facts.shape.0)),
        };
        match app::execute(&plan, opts, obs.as_mut(), &cancel, &out)? {
            app::Outcome::Merged(r) => r,
            app::Outcome::Shard { .. } => {
                return Err(Error::Shard {
                    source_name: "compare".into(),
                    message: "runs the whole sweep, not a shard".into(),
                });
            }
        }
    };
    crate::interrupt::set_phase(crate::interrupt::Phase::Writing);
    crate::interrupt::check(&cancel)?;
    let compared = crate::app::compare::write(&plan, &results)?;
    for w in &compared.warnings {
        eprintln!("warning: {w}");
    }
    if !quiet {
        print_results(&results, plan.loss.name(), dir);
        println!(
            "\n{:>4}  {:<6}{:>22}{:>18}{:>22}{:>30}",
            "rank",
            "method",
            "reconstruction_error",
            "basis_sparseness",
            "nonnegative_fraction",
            "weights_nonnegative_fraction"
        );
        for r in &compared.rows {
            println!(
                "{:>4}  {:<6}{:>22.4}{:>18.4}{:>22.4}{:>30.4}",
                r.rank,
                r.method.name(),
                r.reconstruction_error,
                r.basis_sparseness,
                r.nonnegative_fraction,
                r.weights_nonnegative_fraction
            );
        }
        let volumes = crate::data::is_nifti(plan.data.format, &plan.data.path);
        let figure = if plan.data.image_shape.is_some() {
            "compare.png/.svg and compare_rank_<r>.png/.svg"
        } else if volumes && !plan.data.transpose {
            "compare.png/.svg and compare_rank_<r>.png/.svg: the bases as volumes"
        } else {
            "no figure: set [data] image_shape to draw the bases as images"
        };
        println!("compare.tsv in {} ({figure})", dir.display());
    }
    Ok(())
}

/// The ceilings of `simulate`'s sizes ([`crate::limits`]) and its memory estimate against this
/// machine's physical memory: X, λ = W H and the int64 copy written (N x p each), W and H (planted
/// data); W, H and X (bars); the subjects (float32), the maps (float64 and the float32 copy
/// written) and the mask (volumes).
fn simulate_bounds(a: &SimulateArgs, rows: usize) -> std::result::Result<(), String> {
    use crate::limits::{MAX_BARS_SIDE, MAX_NIFTI_DIM, MAX_RANK, MAX_SIMULATE_DIM, bytes, memory_limit, mib};
    let grid = a.grid.as_deref().unwrap_or(&VOLUME_GRID);
    let grid_max = grid.iter().copied().max().unwrap_or(0);
    let volumes = a.volumes.is_some();
    for (flag, v, max) in [
        ("--rows", rows, if volumes { MAX_NIFTI_DIM } else { MAX_SIMULATE_DIM }),
        ("--cols", a.cols, MAX_SIMULATE_DIM),
        ("--rank", a.rank, MAX_RANK),
        ("--bars", a.bars.unwrap_or(2), MAX_BARS_SIDE),
        ("--grid", if volumes { grid_max } else { 0 }, MAX_NIFTI_DIM),
    ] {
        if v > max {
            return Err(format!("{flag} must be at most {max} (got {v})"));
        }
    }
    let (what, need, lower) = if volumes {
        let voxels = grid.iter().fold(1_u64, |p, &n| p.saturating_mul(n as u64));
        let need = bytes(&[voxels, rows as u64, 4])
            .saturating_add(bytes(&[voxels, a.rank as u64, 12]))
            .saturating_add(voxels);
        let grid = grid.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" x ");
        (format!("{rows} volumes of {grid} voxels"), need, "--rows or --grid")
    } else if let Some(side) = a.bars {
        let (p, k) = (side as u64 * side as u64, 2 * side as u64);
        let need = bytes(&[rows as u64, p, 8])
            .saturating_add(bytes(&[k, p, 8]))
            .saturating_add(bytes(&[rows as u64, k, 8]));
        (
            format!("{rows} images of {side} x {side} pixels"),
            need,
            "--rows or --bars",
        )
    } else {
        let (n, p, r) = (rows as u64, a.cols as u64, a.rank as u64);
        let need = bytes(&[n, p, 8, 3]).saturating_add(bytes(&[n + p, r, 8]));
        (format!("--rows {n} x --cols {p}"), need, "--rows or --cols")
    };
    let limit = memory_limit(0);
    if need > limit {
        return Err(format!(
            "{what} needs about {} MiB in memory, above this machine's physical memory ({} MiB); lower {lower}",
            mib(need),
            mib(limit),
        ));
    }
    Ok(())
}

fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let bad = |m: &str| Error::ConfigValue {
        path: PathBuf::from("<command line>"),
        line: 0,
        key: "simulate".into(),
        message: m.into(),
    };
    let rows = a.rows.unwrap_or(if a.volumes.is_some() { 40 } else { 300 });
    if rows == 0 || a.cols == 0 || a.rank == 0 {
        return Err(bad("--rows, --cols and --rank must be at least 1"));
    }
    simulate_bounds(&a, rows).map_err(|m| bad(&m))?;
    if !(a.mean.is_finite() && a.mean > 0.0 && a.mix.is_finite() && a.mix >= 0.0) {
        return Err(bad("--mean must be positive and --mix non-negative"));
    }
    if let Some(dir) = &a.volumes {
        return simulate_volumes(&a, dir, rows);
    }
    let Some(out) = a.out.as_deref() else {
        return Err(bad("--out FILE is required (or --volumes DIR)"));
    };
    if out.is_dir() {
        // Even with --force: a directory is never replaced by the file.
        return Err(bad(&format!(
            "--out {} is a directory; give the HDF5 file to write, e.g. --out {} (the directory is left as it is)",
            out.display(),
            out.join("data.h5").display()
        )));
    }
    if out.exists() && !a.force {
        return Err(bad(&format!("{} exists; pass --force to overwrite it", out.display())));
    }
    if let Some(side) = a.bars {
        if side < 2 {
            return Err(bad("--bars must be at least 2 (pixels per image side)"));
        }
        if !(a.bar_prob > 0.0 && a.bar_prob <= 1.0 && a.noise.is_finite() && a.noise >= 0.0) {
            return Err(bad("--bar-prob must be in (0, 1] and --noise non-negative"));
        }
        let b = simulate::Bars {
            n: rows,
            side,
            prob: a.bar_prob,
            noise: a.noise,
            seed: a.seed,
        };
        simulate::write_bars(out, &b)?;
        println!(
            "wrote {} ({} images of {side} x {side} pixels, {} bars; set [data] image_shape = [{side}, {side}])",
            out.display(),
            rows,
            2 * side
        );
        return Ok(());
    }
    if a.dispersion.is_some_and(|k| !(k.is_finite() && k > 0.0)) {
        return Err(bad("--dispersion must be positive"));
    }
    let s = Planted {
        n: rows,
        p: a.cols,
        rank: a.rank,
        mean: a.mean,
        mix: a.mix,
        seed: a.seed,
        dispersion: a.dispersion,
    };
    simulate::write(out, &s)?;
    println!(
        "wrote {} ({} x {}, planted rank {})",
        out.display(),
        rows,
        a.cols,
        a.rank
    );
    Ok(())
}

/// `simulate --volumes`' default grid (voxels along x, y, z): about 6000 voxels in the mask at
/// 4 mm, so that a sweep of the demo runs in seconds.
const VOLUME_GRID: [usize; 3] = [24, 28, 24];

/// `simulate --volumes DIR`: checks the grid and voxel size, writes the volumes, and prints what
/// was written.
fn simulate_volumes(a: &SimulateArgs, dir: &std::path::Path, rows: usize) -> Result<()> {
    use simulate::volumes;
    let bad = |m: String| Error::ConfigValue {
        path: PathBuf::from("<command line>"),
        line: 0,
        key: "simulate".into(),
        message: m,
    };
    let given = a.grid.as_deref().unwrap_or(&VOLUME_GRID);
    let grid: [usize; 3] = given.try_into().map_err(|_| {
        bad(format!(
            "--grid takes three voxel counts X,Y,Z, e.g. --grid 24,28,24 (got {} values)",
            given.len()
        ))
    })?;
    let voxel_size = a.voxel_size.unwrap_or(4.0);
    if grid.iter().any(|&n| n < 4) {
        return Err(bad(format!(
            "--grid {},{},{}: every side must be at least 4 voxels",
            grid[0], grid[1], grid[2]
        )));
    }
    if a.dispersion.is_some_and(|k| !(k.is_finite() && k > 0.0)) {
        return Err(bad("--dispersion must be positive".into()));
    }
    if !(voxel_size.is_finite() && voxel_size > 0.0 && voxel_size <= 1000.0) {
        return Err(bad(format!("--voxel-size must be in (0, 1000] mm (got {voxel_size})")));
    }
    let v = volumes::Volumes {
        grid,
        voxel_mm: voxel_size,
        subjects: rows,
        rank: a.rank,
        mean: a.mean,
        mix: a.mix,
        dispersion: a.dispersion,
        seed: a.seed,
    };
    let planted = volumes::write_volumes(dir, &v, a.force)?;
    let inside = planted.mask.iter().filter(|&&m| m == 1).count();
    println!(
        "wrote {} subjects of {} x {} x {} voxels of {} mm ({inside} in the mask), planted rank {}, into {}: \
         {} … {}, {}, {}, {}, {}",
        rows,
        grid[0],
        grid[1],
        grid[2],
        voxel_size,
        a.rank,
        dir.display(),
        volumes::subject_file(0, rows),
        volumes::subject_file(rows - 1, rows),
        volumes::ALL_SUBJECTS_FILE,
        volumes::MASK_FILE,
        volumes::COMPONENTS_FILE,
        volumes::WEIGHTS_FILE
    );
    Ok(())
}
