//! The attribute macros of `streams`. Use them through the `streams` crate, which re-exports them.
//!
//! Each entry point is a few lines; the work is a pipeline of modules: parse the attribute and the
//! item, build a model of the function's contract, check it (collecting every error, each spanned
//! on the user's token), and expand it into code that reaches the runtime only through
//! `::streams::__private`. On errors the user's function is still emitted, so the rest of the crate
//! keeps compiling and IDEs keep working.

mod errors;
mod main_attr;
mod names;
mod processor;

use proc_macro::TokenStream;

/// Makes a plain function a topology node: `stream.process(my_function::Function)`.
///
/// The signature is the contract:
///
/// - **record parameters**: the value (`V` or `&V`), or the key then the value (`K`/`&K`, `V`/`&V`);
/// - optionally a `&RecordContext` (topic, partition, offset, timestamp of the input record);
/// - **state stores** as `&mut KeyValueStore<K, V>` (or `WindowStore`, `SessionStore`, any
///   `StateStore`) parameters, declared under the stable name
///   `<function>-<parameter>` (rename with `#[store(name = "...")]` on the parameter);
/// - the **return type** decides the shape: `T` forwards one record, `Option<T>` zero or one,
///   `Vec<T>` any number, and `Result<_, E>` sends `E` to the processing-error handler.
///
/// The key, timestamp and headers of the input record are kept on every output. The function is
/// emitted unchanged, so it is still a plain function (unit-test it by calling it); the macro adds
/// a module of the same name holding the node, `my_function::Function`. Options:
/// `#[processor(name = "node-name")]` renames the node (default: the function's name) and
/// `#[processor(crate = "path")]` names the `streams` crate when it is re-exported elsewhere.
#[proc_macro_attribute]
pub fn processor(args: TokenStream, item: TokenStream) -> TokenStream {
    processor::expand(args.into(), item.into()).into()
}

/// Turns a function that builds a topology into the whole `main` of a streams binary.
///
/// ```ignore
/// #[streams::main]
/// fn topology(builder: &StreamsBuilder) {
///     builder.stream(&INPUT).filter(|_, v| !v.is_empty()).to(&OUTPUT);
/// }
/// ```
///
/// The binary takes `--bootstrap-servers` (absent: an embedded broker), `--application-id`
/// (default: the crate's name), `--threads`, `--state-dir`, `--processing-guarantee`,
/// `--describe` and `--idle-exit-ms`, reads `STREAMS_*` variables, logs through `tracing`
/// (`RUST_LOG`), and shuts down cleanly on SIGINT or SIGTERM. `#[streams::main(crate = "path")]`
/// names the `streams` crate when it is re-exported elsewhere, as `#[processor(crate = ..)]` does.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(args.into(), item.into()).into()
}
