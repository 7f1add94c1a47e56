//! Error collection: every mistake is reported at once, each on the token that caused it.

use proc_macro2::TokenStream;
use quote::ToTokens;
use std::fmt::Display;

/// Collects errors while the macro parses and checks its input.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Option<syn::Error>,
}

impl Errors {
    /// Records an error spanned on `tokens`.
    pub(crate) fn error_spanned_by<T: ToTokens, M: Display>(&mut self, tokens: T, message: M) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records a finished error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// Whether nothing went wrong.
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_none()
    }

    /// The `compile_error!` invocations for every recorded error.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.errors
            .map(|e| e.into_compile_error())
            .unwrap_or_default()
    }
}
