//! The runtime's layers depend on each other one way only, bottom-up:
//!
//! ```text
//! record, codec, error, config, names, sync, task_env   (the leaf: shared primitives)
//!   → state → processor → topology → task → dsl → test_driver
//!   → kafka → app → cli
//! ```
//!
//! A module may name its own layer and the layers below it, never one above. This test reads
//! every source file of the crate and checks each `crate::<module>` path outside comments and
//! unit-test modules against that order, so a back edge fails here with the file and line that
//! introduced it. (`CONTRIBUTING.md` explains the layers; `lib.rs`, which assembles them, is
//! exempt.)

use std::fs;
use std::path::{Path, PathBuf};

/// The layers, bottom first; the modules of one layer may name each other.
const LAYERS: &[&[&str]] = &[
    &[
        "record", "codec", "error", "config", "names", "sync", "task_env",
    ],
    &["state"],
    &["processor"],
    &["topology"],
    &["task"],
    &["dsl"],
    &["test_driver"],
    &["kafka"],
    &["app"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `state/cache.rs` → `state`, `config.rs` → `config`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("non-empty");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// The modules named by `crate::<module>` paths on a line of code.
fn crate_paths(line: &str) -> Vec<String> {
    line.match_indices("crate::")
        .filter(|(at, _)| {
            // `crate::` itself, not the tail of an identifier such as `my_crate::`.
            !line[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            line[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// `(file:line, from, to)` for every edge that points up.
fn back_edges() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let module = module_of(&src, &file);
        if module == "lib" {
            continue;
        }
        let from = layer_of(&module)
            .unwrap_or_else(|| panic!("module `{module}` is in no layer: add it to LAYERS"));
        let text = fs::read_to_string(&file).expect("read source");
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            // Unit tests sit at the end of their file and may build fixtures from any layer.
            if code == "#[cfg(test)]" {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            for target in crate_paths(code) {
                let Some(to) = layer_of(&target) else {
                    // `crate::__private` and other items of `lib.rs`.
                    continue;
                };
                if to > from {
                    found.push((
                        format!("{}:{}", file.display(), number + 1),
                        module.clone(),
                        target,
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn dependencies_point_down() {
    let edges = back_edges();
    assert!(
        edges.is_empty(),
        "modules name a layer above their own:\n{}",
        edges
            .iter()
            .map(|(at, from, to)| format!("  {at}: `{from}` names `{to}`"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_check_sees_paths() {
    assert_eq!(
        crate_paths("use crate::state::{A, B}; x(crate::task::f())"),
        ["state", "task"]
    );
    assert!(crate_paths("use my_crate::state::A;").is_empty());
    assert_eq!(layer_of("state"), Some(1));
    assert!(layer_of("cli") > layer_of("kafka"));
}
