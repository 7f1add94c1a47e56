//! Parsing `#[processor(...)]` options and `#[store(...)]` parameter attributes.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{Attribute, LitStr, Path};

use crate::errors::Errors;
use crate::names::{NAME_RULE, is_legal_name};

/// The options of `#[processor(...)]`.
pub(crate) struct Options {
    /// `name = "..."`: the node name.
    pub(crate) name: Option<LitStr>,
    /// `crate = "..."`: the path of the `streams` crate.
    pub(crate) krate: Path,
}

pub(crate) fn parse_options(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options {
        name: None,
        krate: syn::parse_quote!(::streams),
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let name: LitStr = meta.value()?.parse()?;
            if !is_legal_name(&name.value()) {
                errors.error_spanned_by(&name, name_rule());
            }
            options.name = Some(name);
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
                    "unknown #[processor] option `{}`; the options are `name = \"...\"` and `crate = \"...\"`",
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

/// Takes `#[store(name = "...")]` out of a parameter's attributes.
pub(crate) fn take_store_name(
    attrs: &mut Vec<Attribute>,
    errors: &mut Errors,
) -> Option<(LitStr, Attribute)> {
    let position = attrs.iter().position(|a| a.path().is_ident("store"))?;
    let attr = attrs.remove(position);
    let mut name = None;
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            let value: LitStr = meta.value()?.parse()?;
            if !is_legal_name(&value.value()) {
                errors.error_spanned_by(&value, name_rule());
            }
            name = Some(value);
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown #[store] option `{}`; the option is `name = \"...\"`",
                path_text(&meta.path)
            )))
        }
    });
    if let Err(error) = result {
        errors.push(error);
    }
    match name {
        Some(name) => Some((name, attr)),
        None => {
            if errors.is_empty() {
                errors.error_spanned_by(&attr, "#[store] needs a name: #[store(name = \"...\")]");
            }
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
