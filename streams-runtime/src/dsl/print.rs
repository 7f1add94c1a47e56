//! [`KStream::print`] and [`Printed`]: each record as a line on standard output or in a file.

use std::fmt::Display;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::KStream;
use crate::error::{ProcessError, TopologyError};
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::Record;
use crate::sync::lock;

/// Turns a record into the text after its label.
type Mapper<K, V> = Arc<dyn Fn(&K, &V) -> String + Send + Sync>;

/// Where and how [`KStream::print`] writes, as Kafka Streams' `Printed`: one line per record,
/// `[<label>]: <key>, <value>`, the label being the printing stream's node name unless chosen.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let printed: Printed<String, u32> = Printed::to_stdout().with_label("orders");
/// // Types without `Display` print through a mapper.
/// let debug = Printed::<Option<String>, Vec<u8>>::to_stdout_mapped(|key, value| {
///     format!("{key:?}, {} bytes", value.len())
/// });
/// # let _ = (printed, debug);
/// ```
pub struct Printed<K, V> {
    target: Target,
    label: Option<String>,
    name: Option<String>,
    mapper: Mapper<K, V>,
}

enum Target {
    Stdout,
    File(PathBuf),
}

impl<K, V> std::fmt::Debug for Printed<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.target {
            Target::Stdout => "stdout".to_owned(),
            Target::File(path) => path.display().to_string(),
        };
        f.debug_struct("Printed")
            .field("target", &target)
            .field("label", &self.label)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K: Display, V: Display> Printed<K, V> {
    /// Prints `[<label>]: <key>, <value>` to standard output.
    pub fn to_stdout() -> Self {
        Self::to_stdout_mapped(|key, value| format!("{key}, {value}"))
    }

    /// Appends `[<label>]: <key>, <value>` lines to the file at `path` (created if missing,
    /// truncated first, as Kafka Streams' `Printed.toFile` does when the stream is printed).
    pub fn to_file(path: impl AsRef<Path>) -> Self {
        Self::to_file_mapped(path, |key, value| format!("{key}, {value}"))
    }
}

impl<K, V> Printed<K, V> {
    /// Prints `[<label>]: <mapper(key, value)>` to standard output.
    pub fn to_stdout_mapped(mapper: impl Fn(&K, &V) -> String + Send + Sync + 'static) -> Self {
        Printed {
            target: Target::Stdout,
            label: None,
            name: None,
            mapper: Arc::new(mapper),
        }
    }

    /// Writes `[<label>]: <mapper(key, value)>` lines to the file at `path`.
    pub fn to_file_mapped(
        path: impl AsRef<Path>,
        mapper: impl Fn(&K, &V) -> String + Send + Sync + 'static,
    ) -> Self {
        Printed {
            target: Target::File(path.as_ref().to_owned()),
            label: None,
            name: None,
            mapper: Arc::new(mapper),
        }
    }

    /// Replaces how a record becomes text (Kafka Streams' `withKeyValueMapper`).
    pub fn with_key_value_mapper(
        mut self,
        mapper: impl Fn(&K, &V) -> String + Send + Sync + 'static,
    ) -> Self {
        self.mapper = Arc::new(mapper);
        self
    }

    /// The label in brackets at the start of each line.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Names the printing node (otherwise `KSTREAM-PRINTER-<n>`; that index is taken either
    /// way, as in Kafka Streams).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Where the lines go: one handle shared by every task's printer, so lines never interleave.
enum Output {
    Stdout,
    File(Arc<Mutex<File>>),
}

/// Writes one line per record and forwards nothing.
struct Print<K, V> {
    label: Arc<str>,
    mapper: Mapper<K, V>,
    output: Arc<Output>,
}

impl<K: Data, V: Data> Processor<K, V> for Print<K, V> {
    type KeyOut = K;
    type ValueOut = V;

    fn process(
        &mut self,
        r: Record<K, V>,
        _: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessError> {
        let line = format!("[{}]: {}\n", self.label, (self.mapper)(&r.key, &r.value));
        let written = match &*self.output {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes()).and_then(|()| out.flush())
            }
            Output::File(file) => {
                let mut file = lock(file);
                file.write_all(line.as_bytes()).and_then(|()| file.flush())
            }
        };
        written.map_err(|error| ProcessError::Processor {
            node: format!("printer [{}]", self.label),
            source: Box::new(error),
        })
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Prints every record (Kafka Streams' `print`): for debugging, not for output other
    /// programs read (use a topic).
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use streams::prelude::*;
    ///
    /// let file = std::env::temp_dir().join(format!("printed-{}.txt", std::process::id()));
    /// let input = Topic::<String, u32>::new("in");
    /// let builder = StreamsBuilder::new();
    /// builder.stream(&input).print(Printed::to_file(&file).with_label("in"));
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe(&input, "a".into(), 1)?;
    /// driver.pipe(&input, "b".into(), 2)?;
    /// assert_eq!(std::fs::read_to_string(&file)?, "[in]: a, 1\n[in]: b, 2\n");
    /// # std::fs::remove_file(&file)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn print(self, printed: Printed<K, V>) {
        let Printed {
            target,
            label,
            name,
            mapper,
        } = printed;
        let label: Arc<str> = label
            .unwrap_or_else(|| self.graph.borrow().node_name(self.node).to_owned())
            .into();
        let output = match target {
            Target::Stdout => Output::Stdout,
            // Opened now, as Kafka Streams opens it in `Printed.toFile`: a path that cannot be
            // written is a topology error, not a failure at the first record.
            Target::File(path) => match File::create(&path) {
                Ok(file) => Output::File(Arc::new(Mutex::new(file))),
                Err(error) => {
                    self.graph
                        .borrow_mut()
                        .record_error(TopologyError::PrintFile {
                            path: path.display().to_string(),
                            reason: error.to_string(),
                        });
                    return;
                }
            },
        };
        let output = Arc::new(output);
        let supplier = move || Print {
            label: Arc::clone(&label),
            mapper: Arc::clone(&mapper),
            output: Arc::clone(&output),
        };
        let name = self
            .graph
            .borrow_mut()
            .chosen_or_generated(name, "KSTREAM-PRINTER");
        // The end of this branch: nothing follows a print.
        let _end = self.then_named(name, supplier, false);
    }
}
