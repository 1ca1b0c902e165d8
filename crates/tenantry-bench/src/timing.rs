//! Timing of single operations and of tight loops, and the one line format
//! every benchmark reports in.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Durations of single operations.
#[derive(Debug, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// No samples yet, with room for `capacity`.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    /// Records one operation's duration.
    pub fn push(&mut self, duration: Duration) {
        self.0.push(duration);
    }

    /// Adds the durations another run recorded, for example another
    /// concurrent task's.
    pub fn append(&mut self, mut other: Samples) {
        self.0.append(&mut other.0);
    }

    /// How many operations were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The duration at `fraction` (0.5 for the median) of the sorted samples.
    pub fn percentile(&self, fraction: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
        sorted[index]
    }

    /// The median duration.
    pub fn median(&self) -> Duration {
        self.percentile(0.5)
    }
}

/// A duration in microseconds.
pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Prints one measurement: its name, count, median and 99th percentile.
pub fn report(name: &str, samples: &Samples) {
    println!(
        "{name:<58} n={:<7} median={:>9.2} µs  p99={:>9.2} µs",
        samples.len(),
        micros(samples.median()),
        micros(samples.percentile(0.99)),
    );
}

/// Prints the ratio of two measurements' medians.
pub fn report_ratio(name: &str, numerator: &Samples, denominator: &Samples) {
    let ratio = numerator.median().as_secs_f64() / denominator.median().as_secs_f64();
    println!("{name:<58} ratio of medians = {ratio:.3}");
}

/// Asks every question once, timing each answer on its own; returns the
/// durations and how many answers were yes.
pub fn time_each<T>(questions: &[T], mut ask: impl FnMut(&T) -> bool) -> (Samples, usize) {
    let mut samples = Samples::with_capacity(questions.len());
    let mut yes = 0;
    for question in questions {
        let started = Instant::now();
        let answer = black_box(ask(black_box(question)));
        samples.push(started.elapsed());
        yes += usize::from(answer);
    }
    (samples, yes)
}

/// Answers per second of a tight loop over `questions`, `rounds` times,
/// timed as a whole.
pub fn per_second<T>(questions: &[T], rounds: usize, mut ask: impl FnMut(&T) -> bool) -> f64 {
    let started = Instant::now();
    let mut yes = 0usize;
    for _ in 0..rounds {
        for question in questions {
            yes += usize::from(black_box(ask(black_box(question))));
        }
    }
    black_box(yes);
    (questions.len() * rounds) as f64 / started.elapsed().as_secs_f64()
}

/// Prints a throughput figure in the same layout as [`report`].
pub fn report_per_second(name: &str, checks: usize, per_second: f64) {
    report_rate(name, checks, per_second, "checks/s on one thread");
}

/// How many operations per second `count` operations in `elapsed` make.
pub fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Prints a throughput figure, `unit` naming what was counted (for example
/// `memberships/s`), in the same layout as [`report`].
pub fn report_rate(name: &str, count: usize, per_second: f64, unit: &str) {
    println!("{name:<58} n={count:<7} {per_second:>10.0} {unit}");
}

/// Prints the ratio of two throughputs.
pub fn report_rate_ratio(name: &str, numerator: f64, denominator: f64) {
    println!("{name:<58} ratio of throughputs = {:.3}", numerator / denominator);
}

/// The order in which the two sides of a side-by-side comparison (0 and 1)
/// run on the `turn`-th round: 0 first on even turns, 1 first on odd ones,
/// so that neither side always runs on a cache the other has just warmed.
pub fn sides_in_turn(turn: usize) -> [usize; 2] {
    if turn % 2 == 0 { [0, 1] } else { [1, 0] }
}

/// What [`measure_build`] measured.
#[derive(Debug)]
pub struct Built<T> {
    /// What was built.
    pub value: T,
    /// The bytes still allocated afterwards that were not before.
    pub bytes: usize,
    /// How long building took.
    pub took: Duration,
}

/// Builds something, measuring how long it takes and how much memory it
/// keeps. `allocated` reads the bytes allocated so far from the benchmark's
/// counting global allocator (each benchmark binary declares its own).
pub fn measure_build<T>(allocated: impl Fn() -> usize, build: impl FnOnce() -> T) -> Built<T> {
    let before = allocated();
    let started = Instant::now();
    let value = build();
    let took = started.elapsed();
    Built { value, bytes: allocated() - before, took }
}
