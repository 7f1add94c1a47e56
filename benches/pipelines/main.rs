//! The pipeline benchmark harness: one run measures our pipelines, the raw client and store
//! they are built on, and two peers, side by side on one tansu broker it starts itself.
//!
//! ```text
//! scripts/bench            # or: cargo bench --bench pipelines -- [--quick] [--records N]
//! ```
//!
//! Options: `--quick` (100,000 records instead of 1,000,000), `--records N`, `--only ID,ID`
//! (run only these workloads; a ratio whose baseline did not run prints `-`), `--no-peers` (skip
//! the Python peers), `--no-write` (do not rewrite `BENCHMARKS.md`).
//!
//! Every workload gets the same records, produced before its measurement starts: keys are 4-byte
//! big-endian integers over 10,000 distinct values, values 100 bytes, 4 partitions. Each prints
//!
//! ```text
//! RESULT workload=<id> records=<n> rec_per_s=<wall rate> cpu_s=<y> rec_per_cpu_s=<z> baseline=<id> ratio=<r>
//! ```
//!
//! where `cpu_s` is the user + system CPU time of the process doing the work: this process
//! (`CLOCK_PROCESS_CPUTIME_ID` deltas around the measured span; the brokers are other processes)
//! or the peer's own report. `ratio` is `rec_per_cpu_s` over the baseline's. The run ends by
//! writing `BENCHMARKS.md` (machine, broker, command, the lines verbatim and a table with the
//! targets of `../shared/PERFORMANCE.md`).
//!
//! Workloads: B1 raw produce; B2 raw consume (`BaseConsumer`, no commits); B3 raw consume →
//! produce; B4-put / B4-batch / B4-count raw RocksDB (WAL off, the runtime's memory shape);
//! QUIX and BYTEWAX, the peers (`../shared/peers/*.py`, from virtual environments under
//! `target/bench-venv`), and QUIX-WINDOW and BYTEWAX-WINDOW, the same peers' 60 s tumbling
//! window count (Quix Streams on at most 200,000 records); F1 source + peek; F2 map → sink; F3
//! `count()` on RocksDB with changelog and record cache; F3-mem `count()` on the in-memory store
//! without changelog; F4 restore of a changelog into a fresh instance; F7 `count()` in 60 s
//! tumbling windows with a 10 s grace (RocksDB, changelog, record cache; emit-on-update) over
//! records whose timestamps rise 1 ms per record; F7-final the same suppressed until each window
//! closes (compared with B3, and in `BENCHMARKS.md` with the window peers); F5-stateless and
//! F5-count in the `TopologyTestDriver`; F6-alos and F6 (exactly-once, 100 ms commits) on the
//! embedded broker, run in a child process so its CPU is not counted.
//!
//! The modules: [`options`] the command line; [`measure`] wall and CPU time; [`brokers`] tansu
//! and the embedded broker; [`records`] the records and the raw clients that load and read them;
//! [`raw`] the raw baselines (B1–B4); [`app`] running a pipeline on a broker, and the pipeline
//! families [`stateless`] (F1, F2), [`count`] (F3 and the scaling figure), [`restore`] (F4),
//! [`window`] (F7), [`driver`] (F5) and [`embedded`] (F6); [`peers`] the Python peers;
//! [`report`] the `RESULT` lines and [`markdown`] `BENCHMARKS.md`. The tansu broker, the guard
//! that stops child processes and the queue-full retry of a send are the broker tests' own
//! helpers (`tests/common/`), included by path.

mod app;
mod brokers;
mod count;
mod driver;
mod embedded;
mod markdown;
mod measure;
mod options;
mod peers;
mod raw;
mod rebalance;
mod records;
mod report;
mod restore;
#[path = "../../tests/common/send.rs"]
mod send;
mod stateless;
#[path = "../../tests/common/tansu.rs"]
mod tansu;
mod window;

use std::path::PathBuf;
use std::time::Instant;

use streams::prelude::*;

use crate::brokers::{EMBEDDED_CHILD, embedded_child, start_tansu};
use crate::count::{SCALING, f3, f3_scaling};
use crate::driver::f5;
use crate::embedded::f6;
use crate::markdown::{command_output, write_markdown};
use crate::measure::guarded;
use crate::options::Options;
use crate::peers::{BYTEWAX, QUIX, committed_all, peer, peer_until};
use crate::raw::{RocksWork, b1, b4, consume};
use crate::rebalance::rebalance;
use crate::records::{PRODUCER_CHILD, producer_child, unique};
use crate::report::{Report, f4_baseline};
use crate::restore::f4;
use crate::stateless::{f1, f2};
use crate::window::f7;

/// Partitions of every topic.
const PARTITIONS: i32 = 4;
/// Distinct keys.
const KEYS: u64 = 10_000;
/// Bytes per value.
const VALUE_BYTES: usize = 100;
/// The most records F6 uses: librdkafka's mock cluster keeps about 5 MB per partition.
const F6_MAX_RECORDS: u64 = 100_000;
/// The most records QUIX-WINDOW uses: Quix Streams' window count stalls on tansu
/// (`../shared/PERFORMANCE.md`).
const QUIX_WINDOW_MAX_RECORDS: u64 = 200_000;

/// The input topics' key type and value type.
type Input = Topic<u32, Vec<u8>>;

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the workloads `options` selects, in order, and writes `BENCHMARKS.md` unless told not to.
fn run(options: &Options) -> Result<(), String> {
    let n = options.records;
    let run_started = Instant::now();
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let tansu = start_tansu()?;
    let servers = tansu.servers.clone();
    eprintln!("tansu on {servers}; {n} records per workload");
    let mut report = Report::default();
    let step = |id: &str| {
        let wanted = options.wants(id);
        if wanted {
            eprintln!("{id} ...");
        }
        wanted
    };
    if step("B1") {
        report.add("B1", guarded(|| b1(&servers, n)), None);
    }
    if step("B2") {
        report.add("B2", guarded(|| consume(&servers, n, None)), None);
    }
    if step("B3") {
        let out = unique("b3-out");
        report.add("B3", guarded(|| consume(&servers, n, Some(&out))), None);
    }
    for (id, work) in [
        ("B4-put", RocksWork::Put),
        ("B4-batch", RocksWork::Batch),
        ("B4-count", RocksWork::Count),
    ] {
        if step(id) {
            report.add(id, guarded(|| b4(work, n)), None);
        }
    }
    if options.peers {
        if step("QUIX") {
            let result = peer(&servers, n, "QUIX", "quix", &[QUIX], "quix_count_bench.py");
            report.add_peer("QUIX", result);
        }
        if step("BYTEWAX") {
            let result = peer(
                &servers,
                n,
                "BYTEWAX",
                "bytewax",
                BYTEWAX,
                "bytewax_count_bench.py",
            );
            report.add_peer("BYTEWAX", result);
        }
        if step("QUIX-WINDOW") {
            // The script stops after n outputs, and final window counts are fewer: it is
            // stopped once its group has committed every input offset.
            let records = n.min(QUIX_WINDOW_MAX_RECORDS);
            let result = peer_until(
                &servers,
                records,
                "QUIX-WINDOW",
                "quix",
                &[QUIX],
                "quix_window_bench.py",
                committed_all(&servers, "qw-in-", "quixw-", records),
            );
            report.add_peer("QUIX-WINDOW", result);
        }
        if step("BYTEWAX-WINDOW") {
            let result = peer(
                &servers,
                n,
                "BYTEWAX-WINDOW",
                "bytewax",
                BYTEWAX,
                "bytewax_window_bench.py",
            );
            report.add_peer("BYTEWAX-WINDOW", result);
        }
    }
    if step("F1") {
        report.add("F1", guarded(|| f1(&servers, n)), Some("B2"));
    }
    if step("F2") {
        report.add("F2", guarded(|| f2(&servers, n)), Some("B3"));
    }
    if step("F3") {
        report.add("F3", guarded(|| f3(&servers, n, false)), Some("B3"));
    }
    if step("F3-mem") {
        report.add("F3-mem", guarded(|| f3(&servers, n, true)), Some("BYTEWAX"));
    }
    if step("F4") {
        let baseline = f4_baseline(&report);
        report.add("F4", guarded(|| f4(&servers, n)), baseline);
    }
    if step("F7") {
        report.add("F7", guarded(|| f7(&servers, n, false)), Some("B3"));
    }
    if step("F7-final") {
        report.add("F7-final", guarded(|| f7(&servers, n, true)), Some("B3"));
    }
    if step("REBALANCE") {
        report.add("REBALANCE", guarded(|| rebalance(&servers, n / 10)), None);
    }
    for &(id, threads, instances) in SCALING {
        if step(id) {
            let baseline = (id != "F3-1T").then_some("F3-1T");
            let result = guarded(|| f3_scaling(&servers, n, threads, instances));
            report.add(id, result, baseline);
        }
    }
    drop(tansu);
    if step("F5-stateless") {
        report.add("F5-stateless", guarded(|| f5(n, false)), None);
    }
    if step("F5-count") {
        report.add("F5-count", guarded(|| f5(n, true)), None);
    }
    // The embedded broker keeps about 5 MB per partition (older records are deleted), and it
    // is slow: F6 uses a quarter of the records, at most 100,000.
    let n6 = (n / 4).clamp(1, F6_MAX_RECORDS);
    if step("F6-alos") {
        report.add("F6-alos", guarded(|| f6(n6, false)), None);
    }
    if step("F6") {
        report.add("F6", guarded(|| f6(n6, true)), Some("F6-alos"));
    }
    if options.write {
        write_markdown(options, &report, &date, &load, run_started.elapsed())?;
    }
    Ok(())
}

/// The harness, or one of the helper processes it starts (the first argument says which).
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // This binary also serves as the helper processes some workloads start.
    type ChildMain = fn(&[String]) -> Result<(), String>;
    let children: [(&str, &str, ChildMain); 2] = [
        (PRODUCER_CHILD, "producer", producer_child),
        (EMBEDDED_CHILD, "embedded broker", embedded_child),
    ];
    for (flag, name, child_main) in children {
        if args.first().map(String::as_str) == Some(flag) {
            return match child_main(&args[1..]) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{name}: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
    }
    if std::env::var_os("RUST_LOG").is_some() {
        streams::cli::init_tracing();
    }
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(&options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipelines: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
