//! The progress bars of `mq bench`: one for confirmed publishes, one for
//! consumed messages. They draw on stderr only when it is a terminal, so
//! pipes and tests see nothing.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

const TEMPLATE: &str = "{prefix:>8} [{bar:40}] {pos:>9}/{len:<9} {rate:>12} {elapsed_precise}";

/// Two bars, cheap to clone into the producing and consuming tasks.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    publish: ProgressBar,
    consume: ProgressBar,
}

impl Progress {
    /// Bars for `count` messages on stderr (hidden unless it is a terminal).
    pub(crate) fn stderr(count: u64) -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} msg/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
        let bar = |name: &'static str| {
            let b = multi.add(ProgressBar::new(count));
            b.set_style(style.clone());
            b.set_prefix(name);
            b
        };
        Progress {
            publish: bar("publish"),
            consume: bar("consume"),
        }
    }

    /// Bars that draw nothing.
    #[cfg(test)]
    pub(crate) fn hidden() -> Progress {
        Progress {
            publish: ProgressBar::hidden(),
            consume: ProgressBar::hidden(),
        }
    }

    /// `n` more messages confirmed (or failed: the bar counts settled ones).
    pub(crate) fn published(&self, n: u64) {
        self.publish.inc(n);
    }

    /// `n` more messages consumed.
    pub(crate) fn consumed(&self, n: u64) {
        self.consume.inc(n);
    }

    /// Removes the bars, before the summary is printed.
    pub(crate) fn finish(&self) {
        self.publish.finish_and_clear();
        self.consume.finish_and_clear();
    }
}
