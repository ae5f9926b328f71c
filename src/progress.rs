//! Progress reporting, as an observer the sweep calls from its single writer thread: an indicatif
//! bar on a terminal, a plain line every few seconds in logs (no TTY, e.g. Slurm output files), or
//! nothing (`--quiet`, which also silences warnings; errors are always printed).

use crate::record::FitRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Receives the sweep's events.
pub trait Observer {
    /// The sweep is about to run `total` fits.
    fn start(&mut self, total: usize);
    /// One fit finished.
    fn fit_done(&mut self, rec: &FitRecord);
    /// All fits finished.
    fn finish(&mut self);
    /// Something the user should know that does not stop the run.
    fn warn(&mut self, message: &str);
}

/// Picks the observer for this process: silent when `quiet`, a bar when stderr is a terminal,
/// plain log lines otherwise.
pub fn for_stderr(quiet: bool) -> Box<dyn Observer> {
    if quiet {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bar { bar: None })
    } else {
        Box::new(PlainLog::new(Duration::from_secs(5)))
    }
}

/// Prints nothing.
pub struct Silent;

impl Observer for Silent {
    fn start(&mut self, _: usize) {}
    fn fit_done(&mut self, _: &FitRecord) {}
    fn finish(&mut self) {}
    fn warn(&mut self, _: &str) {}
}

/// An indicatif progress bar over fits, with an ETA.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Observer for Bar {
    fn start(&mut self, total: usize) {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{spinner} fits {pos}/{len} [{bar:40}] {elapsed_precise}, ETA {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    fn fit_done(&mut self, rec: &FitRecord) {
        if let Some(b) = &self.bar {
            b.set_message(format!(
                "(last: {} rank {} #{})",
                rec.job.kind.name(),
                rec.job.rank,
                rec.job.index
            ));
            b.inc(1);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    fn warn(&mut self, message: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }
}

/// A plain line on stderr at most every `every`, and at the end.
pub struct PlainLog {
    every: Duration,
    started: Instant,
    last: Instant,
    done: usize,
    total: usize,
}

impl PlainLog {
    /// Lines at most every `every`.
    pub fn new(every: Duration) -> Self {
        let now = Instant::now();
        PlainLog {
            every,
            started: now,
            last: now,
            done: 0,
            total: 0,
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let eta = if self.done > 0 && self.done < self.total {
            format!(
                ", ETA {:.0}s",
                secs / self.done as f64 * (self.total - self.done) as f64
            )
        } else {
            String::new()
        };
        format!(
            "progress: {}/{} fits done, {:.1}s elapsed{eta}",
            self.done, self.total, secs
        )
    }
}

impl Observer for PlainLog {
    fn start(&mut self, total: usize) {
        self.total = total;
        self.started = Instant::now();
        self.last = self.started;
        eprintln!("progress: {total} fits to run");
    }

    fn fit_done(&mut self, _: &FitRecord) {
        self.done += 1;
        if self.last.elapsed() >= self.every {
            self.last = Instant::now();
            eprintln!("{}", self.line());
        }
    }

    fn finish(&mut self) {
        eprintln!("{}", self.line());
    }

    fn warn(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }
}
