//! The command line: `[--quick] [--records N] [--only ID,ID] [--no-peers] [--no-write]`.

/// Command-line options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// `--quick`: 100,000 records instead of 1,000,000.
    pub(crate) quick: bool,
    /// Records per workload (`--records N`, else by `--quick`).
    pub(crate) records: u64,
    /// `--only ID,ID`: the workloads to run; all when `None`.
    pub(crate) only: Option<Vec<String>>,
    /// Whether the Python peers run (`--no-peers` turns them off).
    pub(crate) peers: bool,
    /// Whether `BENCHMARKS.md` is rewritten (`--no-write` turns it off).
    pub(crate) write: bool,
    /// The arguments as given (without the `--bench` cargo adds).
    pub(crate) args: Vec<String>,
}

impl Options {
    /// Parses the arguments after the program name; `Err` holds the message (or the usage).
    pub(crate) fn parse(args: Vec<String>) -> Result<Self, String> {
        let mut options = Options {
            quick: false,
            records: 1_000_000,
            only: None,
            peers: true,
            write: true,
            args: Vec::new(),
        };
        let mut records = None;
        let mut iter = args.into_iter();
        while let Some(arg) = iter.next() {
            match arg.as_str() {
                // `cargo bench` passes `--bench` to every bench target.
                "--bench" => continue,
                "--quick" => options.quick = true,
                "--no-peers" => options.peers = false,
                "--no-write" => options.write = false,
                "--records" => {
                    let value = iter.next().ok_or("--records needs a number")?;
                    records = Some(value.parse().map_err(|e| format!("--records: {e}"))?);
                    options.args.extend([arg, value]);
                    continue;
                }
                "--only" => {
                    let value = iter.next().ok_or("--only needs a list of ids")?;
                    options.only = Some(value.split(',').map(str::to_owned).collect());
                    options.args.extend([arg, value]);
                    continue;
                }
                "-h" | "--help" => {
                    return Err("usage: pipelines [--quick] [--records N] [--only ID,ID] \
                                [--no-peers] [--no-write]"
                        .to_owned());
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
            options.args.push(arg);
        }
        options.records = records.unwrap_or(if options.quick { 100_000 } else { 1_000_000 });
        Ok(options)
    }

    /// Whether the workload `id` runs.
    pub(crate) fn wants(&self, id: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == id))
    }
}
