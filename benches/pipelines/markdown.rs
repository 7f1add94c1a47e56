//! `BENCHMARKS.md`: the machine, the command, the `RESULT` lines verbatim and a table against the
//! targets of `../shared/PERFORMANCE.md`.

use std::process::Command;
use std::time::Duration;

use crate::measure::Measured;
use crate::options::Options;
use crate::report::{Outcome, Report};
use crate::tansu::tansu_binary;
use crate::{KEYS, PARTITIONS, VALUE_BYTES, root};

/// A target of `../shared/PERFORMANCE.md`: `id`'s `rec_per_cpu_s` over `against`'s (or an
/// absolute rate) at least `at_least`.
struct Target {
    id: &'static str,
    against: Option<&'static str>,
    at_least: f64,
    text: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        id: "F1",
        against: Some("B2"),
        at_least: 0.85,
        text: "≥ 0.85 × B2",
    },
    Target {
        id: "F2",
        against: Some("B3"),
        at_least: 0.75,
        text: "≥ 0.75 × B3",
    },
    Target {
        id: "F3",
        against: Some("B3"),
        at_least: 0.5,
        text: "≥ 0.5 × B3",
    },
    Target {
        id: "F3",
        against: Some("QUIX"),
        at_least: 8.0,
        text: "≥ 8 × QUIX",
    },
    Target {
        id: "F3-mem",
        against: Some("BYTEWAX"),
        at_least: 4.0,
        text: "≥ 4 × BYTEWAX",
    },
    Target {
        id: "F4",
        against: Some("min(B2, B4-batch)"),
        at_least: 0.7,
        text: "≥ 0.7 × min(B2, B4-batch)",
    },
    Target {
        id: "F7",
        against: Some("B3"),
        at_least: 0.4,
        text: "≥ 0.4 × B3",
    },
    Target {
        id: "F7-final",
        against: Some("B3"),
        at_least: 0.4,
        text: "≥ 0.4 × B3",
    },
    Target {
        id: "F7-final",
        against: Some("QUIX-WINDOW"),
        at_least: 10.0,
        text: "≥ 10 × QUIX-WINDOW",
    },
    Target {
        id: "F7-final",
        against: Some("BYTEWAX-WINDOW"),
        at_least: 10.0,
        text: "≥ 10 × BYTEWAX-WINDOW",
    },
    Target {
        id: "F5-stateless",
        against: None,
        at_least: 2_000_000.0,
        text: "≥ 2M rec per CPU-s (one core)",
    },
    Target {
        id: "F6",
        against: Some("F6-alos"),
        at_least: 0.7,
        text: "≥ 0.7 × F6-alos",
    },
];

/// The workloads in the issue's order, for the table.
const ORDER: &[&str] = &[
    "B1",
    "B2",
    "B3",
    "B4-put",
    "B4-batch",
    "B4-count",
    "F1",
    "F2",
    "F3",
    "F3-mem",
    "F4",
    "F7",
    "F7-final",
    "REBALANCE",
    "F3-1T",
    "F3-2T",
    "F3-4T",
    "F3-2I",
    "F5-stateless",
    "F5-count",
    "F6",
    "F6-alos",
    "QUIX",
    "BYTEWAX",
    "QUIX-WINDOW",
    "BYTEWAX-WINDOW",
];

/// The trimmed standard output of `program args`, if it ran and printed something.
pub(crate) fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The CPU's model name from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The machine's memory from `/proc/meminfo`, in GiB.
fn memory_gib() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let kib: f64 = info
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `x` rounded, with thousands separators: `1,000,000`; below 10, with two decimals
/// (REBALANCE's tasks per second).
fn number(x: f64) -> String {
    if x < 10.0 && x.fract() != 0.0 {
        return format!("{x:.2}");
    }
    let whole = x.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writes `BENCHMARKS.md`.
pub(crate) fn write_markdown(
    options: &Options,
    report: &Report,
    started: &str,
    load: &str,
    elapsed: Duration,
) -> Result<(), String> {
    let mut md = String::new();
    let command = if options.args.is_empty() {
        "scripts/bench".to_owned()
    } else {
        format!("scripts/bench {}", options.args.join(" "))
    };
    md.push_str("# Benchmarks\n\n");
    md.push_str(
        "Written by the pipeline harness (`benches/pipelines/`); do not edit by hand. Rerun with \
         the command below. Targets are those of `../shared/PERFORMANCE.md`; all compare records \
         per CPU-second of the working process, since on these 2-core machines the broker caps \
         every wall rate.\n\n",
    );
    md.push_str(&format!(
        "- **Command:** `{command}` (= `cargo bench --bench pipelines{}`)\n",
        if options.args.is_empty() {
            String::new()
        } else {
            format!(" -- {}", options.args.join(" "))
        }
    ));
    md.push_str(&format!(
        "- **Date:** {started}; the run took {:.0} s\n",
        elapsed.as_secs_f64()
    ));
    md.push_str(&format!(
        "- **Machine:** {} cores, {}, {} RAM, {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        memory_gib(),
        command_output("uname", &["-sr"]).unwrap_or_default()
    ));
    md.push_str(&format!(
        "- **Load average** (1, 5, 15 min) when the run began: {load} (other work on the machine \
         competes for its 2 cores)\n"
    ));
    md.push_str(&format!(
        "- **Broker:** {} (memory storage) on loopback, started by the harness; F6 on the \
         embedded broker (librdkafka's mock cluster) in a child process\n",
        command_output(tansu_binary().to_str().unwrap_or("tansu"), &["--version"])
            .unwrap_or_else(|| "tansu".to_owned())
    ));
    md.push_str(&format!(
        "- **Records:** {} per workload ({}), keys 4-byte big-endian integers over {} \
         distinct values, {VALUE_BYTES}-byte values, {PARTITIONS} partitions\n\n",
        number(options.records as f64),
        if options.quick { "--quick" } else { "full" },
        number(KEYS as f64)
    ));
    md.push_str("## Results\n\n```text\n");
    for outcome in &report.outcomes {
        md.push_str(&outcome.line);
        md.push('\n');
    }
    md.push_str("```\n\n");
    md.push_str(
        "| workload | records | wall rec/s | CPU s | rec per CPU-s | baseline | ratio | target | met |\n\
         |---|---:|---:|---:|---:|---|---:|---|---|\n",
    );
    let mut ids: Vec<&str> = ORDER.to_vec();
    for outcome in &report.outcomes {
        if !ids.contains(&outcome.id.as_str()) {
            ids.push(&outcome.id);
        }
    }
    for id in ids {
        let Some(outcome) = report.outcomes.iter().find(|o| o.id == id) else {
            continue;
        };
        let targets: Vec<&Target> = TARGETS.iter().filter(|t| t.id == id).collect();
        let figures = |m: Option<Measured>| match m {
            Some(m) => format!(
                "{} | {} | {:.2} | {}",
                number(m.records as f64),
                number(m.rate()),
                m.cpu,
                number(m.per_cpu())
            ),
            None => "- | - | - | -".to_owned(),
        };
        if targets.is_empty() {
            md.push_str(&format!(
                "| {id} | {} | {} | {} | | |\n",
                figures(outcome.measured),
                outcome.baseline.as_deref().unwrap_or("-"),
                outcome.ratio.map_or("-".to_owned(), |r| format!("{r:.2}")),
            ));
            continue;
        }
        for target in targets {
            // The line's own baseline, or the other comparison the target names.
            let (baseline, ratio) = match target.against {
                Some(against) if Some(against) != outcome.baseline.as_deref() => {
                    let other = if against.starts_with("min(") {
                        outcome.baseline.clone()
                    } else {
                        Some(against.to_owned())
                    };
                    let ratio = match (
                        outcome.measured,
                        other.as_deref().and_then(|b| report.get(b)),
                    ) {
                        (Some(m), Some(b)) => Some(m.per_cpu() / b.per_cpu()),
                        _ => None,
                    };
                    (other, ratio)
                }
                _ => (outcome.baseline.clone(), outcome.ratio),
            };
            let value = match target.against {
                Some(_) => ratio,
                None => outcome.measured.map(|m| m.per_cpu()),
            };
            let met = match value {
                Some(v) if v >= target.at_least => "yes",
                Some(_) => "**no**",
                None => "-",
            };
            md.push_str(&format!(
                "| {id} | {} | {} | {} | {} | {met} |\n",
                figures(outcome.measured),
                baseline.as_deref().unwrap_or("-"),
                ratio.map_or("-".to_owned(), |r| format!("{r:.2}")),
                target.text,
            ));
        }
    }
    let failed: Vec<&Outcome> = report
        .outcomes
        .iter()
        .filter(|o| o.error.is_some())
        .collect();
    if !failed.is_empty() {
        md.push_str("\n## Failed workloads\n\n");
        for outcome in failed {
            md.push_str(&format!(
                "- {}: {}\n",
                outcome.id,
                outcome.error.as_deref().unwrap_or_default()
            ));
        }
    }
    md.push_str(
        "\n## How each figure is taken\n\n\
         - Every workload reads a fresh topic holding its records, produced before its \
         measurement starts, and writes to a fresh topic; every application has a fresh \
         `application.id` and state directory.\n\
         - `cpu_s` is this process's CPU time (user + system, all threads: \
         `CLOCK_PROCESS_CPUTIME_ID`) over the measured span; tansu and the embedded broker run \
         in other processes. The peers report their own process time (`time.process_time()`).\n\
         - B1 produces with `linger.ms` 5 and Java's partitioner (as the runtime's producer), \
         through the final flush. B2 polls a `BaseConsumer` assigned every partition, no \
         commits. B3 adds a `BaseProducer` writing each record on, through the final flush.\n\
         - B4 opens RocksDB with the runtime's memory shape (one 128 MiB LRU cache with a \
         write-buffer manager charging memtables to it, 16 MiB memtables, at most 3) and the \
         WAL off: B4-put single puts, B4-batch `WriteBatch`es of 1,000, B4-count a get and \
         a put of an 8-byte count per record.\n\
         - F1–F3 and F6 start a `KafkaStreams` instance (one stream thread, default settings \
         unless said); the span runs from the moment its thread has an assignment until \
         `close()` returns, called as soon as a `peek` (or the `map`) has seen every record: \
         `close()` commits, so the span includes flushing the record cache to the store, \
         changelog and output topic and the producer's flush. F3 uses the defaults (RocksDB, \
         changelog, 10 MiB record cache, 30 s commit interval: within a run the only commit is \
         the final one); F3-mem the in-memory store with `with_logging_disabled()`.\n\
         - F4 produces the records straight into the changelog of the count store of a fresh \
         instance (4-byte keys, 100-byte values) and times the restore with a \
         `StateRestoreListener`, from the first store's start to the fourth store's end.\n\
         - REBALANCE runs F3's count over a tenth of the records on 8 partitions (8 tasks) in one \
         instance with 500 ms commits; once every record is counted and committed, a second \
         instance of the application joins, and the span runs until both run again with the 8 \
         tasks split between them. Its records are the 8 tasks, so its wall rate is tasks per \
         second: 8 divided by it is the figure, the seconds the rebalance cost (the instance \
         that stays resumes the tasks it keeps; the newcomer restores the 4 it gains, \
         together; most of it is the broker's group protocol).\n\
         - F3-1T, F3-2T, F3-4T and F3-2I are the scaling figure: F3's `count()` with 1, 2 and 4 \
         stream threads in one instance, and two one-thread instances of one application in \
         this process (both counted). They start on an empty input topic; once all four \
         partitions are assigned and the group has settled, a child process produces the \
         records (its CPU is not counted) and the span runs until every record is counted and \
         every instance has closed. Records arrive as they are produced, in smaller fetches than \
         F3's backlog, so compare these rows with each other (ratio to F3-1T), not with F3.\n\
         - Profiles of the workloads that miss their targets, and what bounds them: \
         `benches/PROFILES.md`.\n\
         - F5 pipes the records with `pipe_raw` into a `TopologyTestDriver` on this thread: \
         F5-stateless `map` → sink, F5-count `group_by_key().count()` (RocksDB, no cache: the \
         driver's default).\n\
         - F6-alos and F6 run the count topology (as F3) on the embedded broker, at-least-once \
         with its defaults versus `exactly_once_v2` with 100 ms commits; F6 is compared with \
         F6-alos. The embedded broker is slow and keeps only about 5 MB per partition (it \
         deletes older records), so F6 uses a quarter of the records, at most 100,000.\n\
         - QUIX and BYTEWAX run `../shared/peers/quix_count_bench.py` (Quix Streams 3.28.1, \
         RocksDB state and changelog) and `../shared/peers/bytewax_count_bench.py` (Bytewax \
         0.21.1, in-memory state) from virtual environments under `target/bench-venv`, on the \
         same tansu; their lines are theirs, with `baseline=- ratio=-` added. F3 is compared \
         with QUIX in the table (its line names B3), F3-mem with BYTEWAX.\n\
         - F7 and F7-final count records per key in 60 s tumbling windows with a 10 s grace \
         (`TimeWindows::of_size_and_grace`; RocksDB window store, changelog and record cache, \
         the defaults) into a topic of windowed keys (Kafka's time-windowed layout). Record `i` \
         has the Kafka timestamp 1,700,000,000,000 + `i` ms (the window peers' start), so the \
         records span about 1,000 s of event time and windows close as it moves. F7 emits on \
         update (through the cache); F7-final is suppressed until each window closes \
         (`Suppressed::until_window_closes(BufferConfig::unbounded())`) and emits one final \
         count per key and closed window, far fewer records than it reads: as for F3, the span \
         ends when a `peek` before the count has seen every input record, then `close()`. \
         F7's output is checked like F3's (the latest counts add up to every record), \
         F7-final's count by count (each window that closed holds its exact count, once). \
         Both lines name B3; the table also compares F7-final with the window peers.\n\
         - QUIX-WINDOW and BYTEWAX-WINDOW run `../shared/peers/quix_window_bench.py` and \
         `../shared/peers/bytewax_window_bench.py`: the same window count over the same keys, \
         values and timestamps, final results only (Bytewax emits when its event clock closes \
         a window, and the rest at the end of its input). QUIX-WINDOW runs at most 200,000 \
         records: Quix Streams' window count stalls on tansu (`../shared/PERFORMANCE.md` \
         has about 600 rec/s wall at 300,000). One cause is its script: `app.run(count=N)` \
         stops after N *outputs*, which final window counts never reach (one per key and \
         closed window, about one per six records), so it never stops by itself. The harness \
         stops it with `SIGTERM` (Quix Streams' clean stop, after which the script prints its \
         figures) once its consumer group has committed all N input offsets. Quix commits \
         every 5 s, so its wall rate includes up to about 6 s of idling; its CPU time barely grows meanwhile. Rates per CPU-second \
         compare across the different record counts.\n",
    );
    let path = root().join("BENCHMARKS.md");
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
