//! Parsing `#[processor(...)]` options and `#[store(...)]` parameter attributes.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{Attribute, LitBool, LitStr, Path};

use crate::errors::Errors;
use crate::names::{NAME_RULE, is_legal_name};

/// The options of `#[processor(...)]`.
pub(crate) struct Options {
    /// `name = "..."`: the node name.
    pub(crate) name: Option<LitStr>,
    /// `crate = "..."`: the path of the `streams` crate.
    pub(crate) krate: Path,
    /// `punctuate(every = "10s", on = stream_time, with = expire)`, each one.
    pub(crate) timers: Vec<TimerOption>,
}

/// One `punctuate(...)` option: a timer and the function it runs.
pub(crate) struct TimerOption {
    /// `every = "10s"`.
    pub(crate) every: Millis,
    /// `on = stream_time` (the default) or `on = wall_clock`.
    pub(crate) wall_clock: bool,
    /// `with = expire`: the timer function.
    pub(crate) with: Path,
}

const TIMER_SHAPE: &str = "a timer is `punctuate(every = \"10s\", on = stream_time, with = function)` (`on` is `stream_time` or `wall_clock`)";

pub(crate) fn parse_options(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options {
        name: None,
        krate: syn::parse_quote!(::streams),
        timers: Vec::new(),
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let name: LitStr = meta.value()?.parse()?;
            if !is_legal_name(&name.value()) {
                errors.error_spanned_by(&name, name_rule());
            }
            options.name = Some(name);
        } else if meta.path.is_ident("punctuate") {
            let span = meta.path.clone();
            let (mut every, mut wall_clock, mut with) = (None, false, None);
            meta.parse_nested_meta(|inner| {
                if inner.path.is_ident("every") {
                    every = duration(inner.value()?.parse()?, errors);
                } else if inner.path.is_ident("on") {
                    let clock: syn::Ident = inner.value()?.parse()?;
                    match clock.to_string().as_str() {
                        "stream_time" => wall_clock = false,
                        "wall_clock" => wall_clock = true,
                        _ => errors.error_spanned_by(
                            &clock,
                            "a timer runs `on = stream_time` or `on = wall_clock`",
                        ),
                    }
                } else if inner.path.is_ident("with") {
                    with = Some(inner.value()?.parse::<Path>()?);
                } else {
                    errors.error_spanned_by(
                        &inner.path,
                        format!(
                            "unknown timer option `{}`; {TIMER_SHAPE}",
                            path_text(&inner.path)
                        ),
                    );
                    if inner.input.peek(syn::Token![=]) {
                        let _: syn::Expr = inner.value()?.parse()?;
                    }
                }
                Ok(())
            })?;
            match (every, with) {
                (Some(every), Some(with)) => options.timers.push(TimerOption {
                    every,
                    wall_clock,
                    with,
                }),
                (None, _) if errors.is_empty() => errors
                    .error_spanned_by(&span, format!("the timer needs `every`; {TIMER_SHAPE}")),
                (_, None) if errors.is_empty() => errors.error_spanned_by(
                    &span,
                    format!("the timer needs `with`, the function it runs; {TIMER_SHAPE}"),
                ),
                _ => {}
            }
        } else if meta.path.is_ident("crate") {
            let path: LitStr = meta.value()?.parse()?;
            match path.parse::<Path>() {
                Ok(path) => options.krate = path,
                Err(_) => {
                    errors.error_spanned_by(&path, "`crate` takes a path, such as \"::streams\"")
                }
            }
        } else {
            errors.error_spanned_by(
                &meta.path,
                format!(
                    "unknown #[processor] option `{}`; the options are `name = \"...\"`, `punctuate(...)` and `crate = \"...\"`",
                    path_text(&meta.path)
                ),
            );
            // Skip the option's value so the next one still parses.
            if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    options
}

/// A `#[store(...)]` parameter attribute: the store's name and, for window and session stores,
/// their shape.
pub(crate) struct StoreAttr {
    /// `name = "..."`.
    pub(crate) name: Option<LitStr>,
    /// `window_size = "60s"`, in milliseconds.
    pub(crate) window_size: Option<Millis>,
    /// Whether `window_size` was written (even if it did not parse, which is reported).
    pub(crate) window_size_written: bool,
    /// `retention = "1h"`, in milliseconds.
    pub(crate) retention: Option<Millis>,
    /// `retain_duplicates = true`.
    pub(crate) retain_duplicates: Option<LitBool>,
    /// `session`.
    pub(crate) session: Option<Path>,
    /// The attribute itself, for errors about it as a whole.
    pub(crate) attr: Attribute,
}

/// A duration written in an attribute, with where it was written.
#[derive(Clone)]
pub(crate) struct Millis {
    pub(crate) millis: u64,
    pub(crate) literal: LitStr,
}

const STORE_OPTIONS: &str = "the options are `name = \"...\"`, and for window stores \
    `window_size = \"60s\"`, `retention = \"1h\"`, `retain_duplicates = true`, for session \
    stores `session` and `retention = \"1h\"`";

/// Takes `#[store(...)]` out of a parameter's attributes.
pub(crate) fn take_store_attr(
    attrs: &mut Vec<Attribute>,
    errors: &mut Errors,
) -> Option<StoreAttr> {
    let position = attrs.iter().position(|a| a.path().is_ident("store"))?;
    let attr = attrs.remove(position);
    let mut store = StoreAttr {
        name: None,
        window_size: None,
        window_size_written: false,
        retention: None,
        retain_duplicates: None,
        session: None,
        attr: attr.clone(),
    };
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            let value: LitStr = meta.value()?.parse()?;
            if !is_legal_name(&value.value()) {
                errors.error_spanned_by(&value, name_rule());
            }
            store.name = Some(value);
        } else if meta.path.is_ident("window_size") {
            store.window_size_written = true;
            store.window_size = duration(meta.value()?.parse()?, errors);
        } else if meta.path.is_ident("retention") {
            store.retention = duration(meta.value()?.parse()?, errors);
        } else if meta.path.is_ident("retain_duplicates") {
            store.retain_duplicates = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("session") {
            store.session = Some(meta.path.clone());
        } else {
            return Err(meta.error(format!(
                "unknown #[store] option `{}`; {STORE_OPTIONS}",
                path_text(&meta.path)
            )));
        }
        Ok(())
    });
    if let Err(error) = result {
        errors.push(error);
    }
    let empty = store.name.is_none()
        && store.window_size.is_none()
        && store.retention.is_none()
        && store.retain_duplicates.is_none()
        && store.session.is_none();
    if empty && errors.is_empty() {
        errors.error_spanned_by(&attr, format!("#[store] needs an option: {STORE_OPTIONS}"));
    }
    Some(store)
}

/// Reads `"500ms"`, `"30s"`, `"5m"`, `"1h"` or `"7d"`.
fn duration(literal: LitStr, errors: &mut Errors) -> Option<Millis> {
    let text = literal.value();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        "d" => Some(86_400_000),
        _ => None,
    };
    match (number.parse::<u64>(), factor) {
        (Ok(n), Some(factor)) if n > 0 => match n.checked_mul(factor) {
            Some(millis) if millis <= i64::MAX as u64 => Some(Millis { millis, literal }),
            _ => {
                errors.error_spanned_by(&literal, "this duration is too long");
                None
            }
        },
        _ => {
            errors.error_spanned_by(
                &literal,
                "a duration is a positive whole number and a unit: \"500ms\", \"30s\", \"5m\", \"1h\" or \"7d\"",
            );
            None
        }
    }
}

/// The message for a name the runtime would reject.
fn name_rule() -> String {
    format!("a node or store name uses {NAME_RULE}")
}

fn path_text(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
