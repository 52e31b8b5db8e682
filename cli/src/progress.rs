//! Progress of long work, shown the way the output allows: an `indicatif` bar when the stream
//! is a terminal, plain lines (the first at once, then at most one every few seconds) when it
//! is not — "catching up: 45,000 of about 100,000 entries (12 s left)". [`ProgressLayer`]
//! turns the node's progress events (`kith_node::progress::report`: a store conversion,
//! rebuilding the views) into such a display; `kith run` drives one for the first catch-up.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// How often a plain progress line is printed at most.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Where a progress display writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One piece of long work's progress, shown until [`Progress::finish`].
#[derive(Debug)]
pub struct Progress {
    label: String,
    unit: &'static str,
    /// The total is an estimate ("of about").
    about: bool,
    stream: Stream,
    bar: Option<ProgressBar>,
    started: Instant,
    /// `done` at the first update: the rate counts only work seen here.
    first_done: Option<u64>,
    last_line: Option<Instant>,
}

impl Progress {
    /// A bar when `stream` is a terminal, plain lines otherwise.
    pub fn new(label: &str, unit: &'static str, about: bool, stream: Stream) -> Progress {
        let terminal = match stream {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        };
        let bar = terminal.then(|| {
            let target = match stream {
                Stream::Stdout => ProgressDrawTarget::stdout(),
                Stream::Stderr => ProgressDrawTarget::stderr(),
            };
            let of = if about { "of about " } else { "of " };
            let template = format!("{label}: {{bar:30}} {{human_pos}} {of}{{human_len}} {unit} ({{eta}} left)");
            let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::with_draw_target(Some(0), target).with_style(style.progress_chars("=> "))
        });
        Progress {
            label: label.to_string(),
            unit,
            about,
            stream,
            bar,
            started: Instant::now(),
            first_done: None,
            last_line: None,
        }
    }

    /// `done` of `total` now.
    pub fn update(&mut self, done: u64, total: u64) {
        let first = *self.first_done.get_or_insert(done);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            return;
        }
        let due = self.last_line.is_none_or(|at| at.elapsed() >= PLAIN_EVERY);
        if due {
            self.last_line = Some(Instant::now());
            let left = time_left(done.saturating_sub(first), total.saturating_sub(done), self.started.elapsed());
            let line = line(&self.label, done, total, self.about, self.unit, left);
            self.write_line(&line);
        }
    }

    /// The work is over: the bar is cleared, and a last line says how much was done.
    pub fn finish(&mut self, done: u64) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.first_done.is_some() {
            let unit = self.unit;
            let line =
                format!("{}: done, {} {unit} in {} s", self.label, grouped(done), self.started.elapsed().as_secs());
            self.write_line(&line);
        }
    }

    fn write_line(&self, line: &str) {
        let _ = match self.stream {
            Stream::Stdout => writeln!(std::io::stdout().lock(), "{line}"),
            Stream::Stderr => writeln!(std::io::stderr().lock(), "{line}"),
        };
    }
}

/// A progress line: "catching up: 45,000 of about 100,000 entries (12 s left)".
pub fn line(label: &str, done: u64, total: u64, about: bool, unit: &str, left: Option<Duration>) -> String {
    let of = if about { "of about" } else { "of" };
    let left = left.map(|l| format!(" ({} left)", seconds(l))).unwrap_or_default();
    format!("{label}: {} {of} {} {unit}{left}", grouped(done), grouped(total))
}

/// How long the rest takes at the rate seen so far; `None` before any work was seen.
pub fn time_left(done_here: u64, remaining: u64, elapsed: Duration) -> Option<Duration> {
    if done_here == 0 || elapsed.is_zero() {
        return None;
    }
    let per_unit = elapsed.as_secs_f64() / done_here as f64;
    Some(Duration::from_secs_f64((per_unit * remaining as f64).min(1e9)))
}

fn seconds(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        0..=99 => format!("{s} s"),
        100..=5999 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h", s.div_ceil(3600)),
    }
}

/// A count with thousands separated by commas: 45,000.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A `tracing` layer showing the node's progress events (target
/// [`kith_node::progress::TARGET`]) on stderr, one display for each kind of work.
#[derive(Debug, Default)]
pub struct ProgressLayer {
    shown: Mutex<HashMap<String, Progress>>,
}

#[derive(Default)]
struct ProgressFields {
    what: Option<String>,
    done: Option<u64>,
    total: Option<u64>,
}

impl Visit for ProgressFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "what" {
            self.what = Some(value.to_string());
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = Some(value),
            "total" => self.total = Some(value),
            _ => {}
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ProgressLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != kith_node::progress::TARGET {
            return;
        }
        let mut fields = ProgressFields::default();
        event.record(&mut fields);
        let (Some(what), Some(done), Some(total)) = (fields.what, fields.done, fields.total) else { return };
        let mut shown = self.shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if done >= total {
            if let Some(mut progress) = shown.remove(&what) {
                progress.finish(done);
            }
            return;
        }
        let progress =
            shown.entry(what.clone()).or_insert_with(|| Progress::new(&what, "entries", false, Stream::Stderr));
        progress.update(done, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_in_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(45_000), "45,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn a_line_says_how_far_and_how_long_is_left() {
        let left = time_left(45_000, 55_000, Duration::from_secs(10));
        assert_eq!(left, Some(Duration::from_secs_f64(55_000.0 * 10.0 / 45_000.0)));
        assert_eq!(
            line("catching up", 45_000, 100_000, true, "entries", left),
            "catching up: 45,000 of about 100,000 entries (12 s left)"
        );
        assert_eq!(
            line("entries converted", 20_000, 80_000, false, "entries", None),
            "entries converted: 20,000 of 80,000 entries"
        );
        assert_eq!(time_left(0, 10, Duration::from_secs(3)), None, "no rate before any work is seen");
        assert_eq!(seconds(Duration::from_secs(150)), "3 min");
    }
}
