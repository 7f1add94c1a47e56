//! `#[processor]`: parse → model → check → expand.

mod attr;
mod expand;
mod model;

use proc_macro2::TokenStream;
use quote::quote;

use crate::errors::Errors;

/// Expands `#[processor(args)] item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = attr::parse_options(args, &mut errors);
    let mut function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.push(model::not_a_function(&item));
            let compile_errors = errors.into_compile_errors();
            return quote!(#item #compile_errors);
        }
    };
    let model = model::ProcessorModel::from_function(&mut function, options, &mut errors);
    match model {
        Some(model) if errors.is_empty() => expand::expand(&function, &model),
        _ => {
            // Emit the user's function (stripped of our parameter attributes) beside the errors,
            // so the rest of the crate keeps compiling.
            let compile_errors = errors.into_compile_errors();
            quote!(#function #compile_errors)
        }
    }
}
