//! How esctl prints: aligned tables for people, JSON for scripts, progress on stderr.

use std::io::IsTerminal;
use std::time::Instant;

use serde_json::Value;

pub fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

/// Rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let text: Vec<String> = cells
            .into_iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == last {
                    cell.to_owned()
                } else {
                    format!("{cell:<width$}", width = widths[i])
                }
            })
            .collect();
        println!("{}", text.join("  "));
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// An error and its sources on one line: `a: b: c`.
pub fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// A stored event's payload without the enum's outer tag: `{"Registered": {...}}` → `{...}`.
pub fn summary(payload: &Value) -> String {
    let inner = match payload.as_object() {
        Some(map) if map.len() == 1 => map.values().next().unwrap_or(payload),
        _ => payload,
    };
    cut(&inner.to_string(), 100)
}

pub fn events(events: &[event_store::RecordedEvent], as_json: bool) {
    if as_json {
        for event in events {
            println!(
                "{}",
                serde_json::to_string(event).expect("events serialize")
            );
        }
        return;
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            vec![
                event.sequence.to_string(),
                event
                    .recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                event.event_type.clone(),
                summary(&event.payload),
            ]
        })
        .collect();
    table(&["SEQ", "RECORDED AT", "TYPE", "SUMMARY"], &rows);
}

/// Progress of long work on stderr: a bar with an ETA on a terminal, a plain line every
/// 10 % otherwise (logs, pipes, CI).
pub struct Progress {
    what: &'static str,
    total: u64,
    started: Instant,
    terminal: bool,
    next_line: u64,
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Self {
        Self {
            what,
            total: total.max(1),
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            next_line: 0,
        }
    }

    pub fn update(&mut self, done: u64) {
        let fraction = done as f64 / self.total as f64;
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if done == 0 {
            0.0
        } else {
            elapsed / fraction - elapsed
        };
        if self.terminal {
            let filled = (fraction * 30.0) as usize;
            eprint!(
                "\r{} [{}{}] {done}/{} ETA {eta:.0} s ",
                self.what,
                "#".repeat(filled.min(30)),
                " ".repeat(30 - filled.min(30)),
                self.total
            );
        } else if done >= self.next_line {
            eprintln!(
                "{} {done}/{} ({:.0} %, ETA {eta:.0} s)",
                self.what,
                self.total,
                fraction * 100.0
            );
            self.next_line = done + self.total.div_ceil(10);
        }
    }

    pub fn finish(&mut self, done: u64) {
        if self.terminal {
            self.update(done);
            eprintln!();
        }
    }
}
