//! `#[streams::main]`: turns a topology-building function into a complete binary.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::{FnArg, ItemFn, LitStr, Path, ReturnType};

use crate::errors::Errors;

/// Parses `#[streams::main(crate = "path")]`: the path of the `streams` crate (default
/// `::streams`), as `#[processor(crate = ..)]` takes it.
fn parse_crate(args: TokenStream, errors: &mut Errors) -> Path {
    let mut krate: Path = syn::parse_quote!(::streams);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            let path: LitStr = meta.value()?.parse()?;
            match path.parse::<Path>() {
                Ok(path) => krate = path,
                Err(_) => {
                    errors.error_spanned_by(&path, "`crate` takes a path, such as \"::streams\"")
                }
            }
            Ok(())
        } else {
            Err(meta.error("unknown #[streams::main] option; the option is `crate = \"...\"`"))
        }
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    krate
}

/// Expands `#[main] fn topology(builder: &StreamsBuilder) { ... }`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let krate = parse_crate(args, &mut errors);
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.error_spanned_by(
                item.clone().into_iter().take(3).collect::<TokenStream>(),
                "#[streams::main] goes on a function that builds the topology: `fn topology(builder: &StreamsBuilder)`",
            );
            let compile_errors = errors.into_compile_errors();
            return quote!(#item #compile_errors);
        }
    };
    let sig = &function.sig;
    let ident = &sig.ident;
    if let Some(asyncness) = &sig.asyncness {
        errors.error_spanned_by(
            asyncness,
            format!("`{ident}` cannot be async: building a topology is synchronous"),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.error_spanned_by(&sig.generics, format!("`{ident}` cannot be generic"));
    }
    if ident == "main" {
        errors.error_spanned_by(
            ident,
            "#[streams::main] writes `main` itself: name the topology function something else",
        );
    }
    let typed = sig
        .inputs
        .iter()
        .filter(|i| matches!(i, FnArg::Typed(_)))
        .count();
    if typed != 1 || sig.inputs.len() != 1 {
        errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            format!("`{ident}` must take exactly one parameter, the builder: `fn {ident}(builder: &StreamsBuilder)`"),
        ));
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        errors.error_spanned_by(
            ty,
            format!("`{ident}` adds to the builder and returns nothing"),
        );
    }
    let compile_errors = errors.into_compile_errors();
    if !compile_errors.is_empty() {
        // An empty `main` beside the errors keeps "no `main`" out of the user's error list; the
        // crate does not compile anyway.
        return quote!(#function fn main() {} #compile_errors);
    }
    quote! {
        #function

        fn main() -> ::std::process::ExitCode {
            #krate::__private::run_main(::core::env!("CARGO_CRATE_NAME"), #ident)
        }
    }
}
