//! A progress bar for long work (data generation, ground truth, index
//! builds), safe to update from many threads.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// `label [#########           ] 45%  1234/5678` on stderr: redrawn in
/// place on a terminal, and one line per 10% otherwise (a CI log or a
/// pipe should not fill with carriage returns). Workers report from
/// several threads; the lock keeps lines whole and the count monotonic,
/// and it redraws only when the percentage moves, so a fast loop does not
/// spend its time printing.
pub struct Progress {
    label: &'static str,
    last: Mutex<Option<usize>>,
    terminal: bool,
}

impl Progress {
    pub fn new(label: &'static str) -> Self {
        Progress {
            label,
            last: Mutex::new(None),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&self, done: usize, total: usize) {
        const WIDTH: usize = 30;
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let percent = done * 100 / total.max(1);
        let step = if self.terminal { 1 } else { 10 };
        if last.is_some_and(|l| percent < l + step && percent < 100 || percent <= l) {
            return;
        }
        *last = Some(percent);
        let filled = done * WIDTH / total.max(1);
        let (start, end) = if self.terminal {
            ("\r", "")
        } else {
            ("", "\n")
        };
        eprint!(
            "{start}{:<13} [{}{}] {percent:>3}%  {done}/{total}{end}",
            self.label,
            "#".repeat(filled),
            " ".repeat(WIDTH - filled.min(WIDTH))
        );
        std::io::stderr().flush().ok();
    }

    pub fn finish(&self) {
        if self.terminal && self.last.lock().is_ok_and(|l| l.is_some()) {
            eprintln!();
        }
    }
}
