//! The `RESULT` lines: printed as each workload ends, and kept for `BENCHMARKS.md`.

use std::io::Write as _;

use crate::measure::Measured;

/// One `RESULT` line.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// The workload.
    pub(crate) id: String,
    /// Its figures, unless it failed.
    pub(crate) measured: Option<Measured>,
    /// The workload its ratio is taken against.
    pub(crate) baseline: Option<String>,
    /// `rec_per_cpu_s` over the baseline's, when both are known.
    pub(crate) ratio: Option<f64>,
    /// The exact line printed.
    pub(crate) line: String,
    /// Why the workload has no figures.
    pub(crate) error: Option<String>,
}

/// Collects and prints the results.
#[derive(Default)]
pub(crate) struct Report {
    /// The lines so far, in the order printed.
    pub(crate) outcomes: Vec<Outcome>,
}

impl Report {
    /// The figures of `id`, if it ran and succeeded.
    pub(crate) fn get(&self, id: &str) -> Option<Measured> {
        self.outcomes
            .iter()
            .find(|o| o.id == id)
            .and_then(|o| o.measured)
    }

    /// Records and prints the line of `id`, with its ratio to `baseline` when both are known.
    pub(crate) fn add(
        &mut self,
        id: &str,
        result: Result<Measured, String>,
        baseline: Option<&str>,
    ) {
        let (measured, error) = match result {
            Ok(m) => (Some(m), None),
            Err(e) => {
                eprintln!("ERROR workload={id}: {e}");
                (None, Some(e))
            }
        };
        let ratio = match (measured, baseline.and_then(|b| self.get(b))) {
            (Some(m), Some(b)) => Some(m.per_cpu() / b.per_cpu()),
            _ => None,
        };
        let figures = match measured {
            Some(m) => format!(
                "records={} rec_per_s={} cpu_s={:.3} rec_per_cpu_s={:.0}",
                m.records,
                rate_text(m.rate()),
                m.cpu,
                m.per_cpu()
            ),
            None => "records=0 rec_per_s=- cpu_s=- rec_per_cpu_s=-".to_owned(),
        };
        let line = format!(
            "RESULT workload={id} {figures} baseline={} ratio={}",
            baseline.unwrap_or("-"),
            ratio.map_or("-".to_owned(), |r| format!("{r:.3}"))
        );
        println!("{line}");
        let _ = std::io::stdout().flush();
        self.outcomes.push(Outcome {
            id: id.to_owned(),
            measured,
            baseline: baseline.map(str::to_owned),
            ratio,
            line,
            error,
        });
    }

    /// Records a peer's own `RESULT` line, passed through with `baseline=- ratio=-` appended.
    pub(crate) fn add_peer(&mut self, id: &str, result: Result<(String, Measured), String>) {
        match result {
            Ok((own, measured)) => {
                let line = format!("{own} baseline=- ratio=-");
                println!("{line}");
                self.outcomes.push(Outcome {
                    id: id.to_owned(),
                    measured: Some(measured),
                    baseline: None,
                    ratio: None,
                    line,
                    error: None,
                });
            }
            Err(e) => self.add(id, Err(e), None),
        }
    }
}

/// A rate as printed: whole numbers, but two decimals below 10 (REBALANCE's tasks per second).
fn rate_text(rate: f64) -> String {
    if rate < 10.0 {
        format!("{rate:.2}")
    } else {
        format!("{rate:.0}")
    }
}

/// The baseline id of F4: whichever of B2 and B4-batch has the lower CPU rate.
pub(crate) fn f4_baseline(report: &Report) -> Option<&'static str> {
    match (report.get("B2"), report.get("B4-batch")) {
        (Some(a), Some(b)) => Some(if a.per_cpu() <= b.per_cpu() {
            "B2"
        } else {
            "B4-batch"
        }),
        (Some(_), None) => Some("B2"),
        (None, Some(_)) => Some("B4-batch"),
        (None, None) => None,
    }
}
