//! Code generation for a checked processor function.
//!
//! The function is emitted unchanged, so it is still a plain function: callable in unit tests and
//! usable wherever a closure is. Beside it, a module of the same name (modules and functions live
//! in different namespaces) holds a unit struct `Function` that implements `ProcessorFunction`,
//! so `stream.process(my_function::Function)` wires it. A unit struct named like the function
//! itself would make every `let my_function = ...` binding in scope a pattern error, hence the
//! module. Everything reaches the runtime through `<crate>::__private` with absolute paths, inside
//! `const _`, so user names (a local `Result`, say) cannot change its meaning.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use super::model::{ProcessorModel, Role, Shape, StoreShape};

pub(crate) fn expand(function: &ItemFn, model: &ProcessorModel) -> TokenStream {
    let vis = &function.vis;
    let ident = &model.ident;
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let cfg_attrs: Vec<_> = function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
        .collect();

    let value = model.value();
    let (key_param, key) = match model.key() {
        Some(key) => (quote!(), quote!(#key)),
        None => (quote!(<__K: #private::Data>), quote!(__K)),
    };
    let output_ty = &model.output;
    let output_ty = quote_spanned!(output_ty.span()=> #output_ty);
    let node_name = &model.node_name;
    let module_doc = format!(
        "The topology node of [`{ident}()`]: wire it with `stream.process({ident}::Function)`."
    );
    let struct_doc = format!(
        "Runs [`{ident}()`] as the topology node `{}`.",
        node_name.value()
    );

    let store_types: Vec<_> = model.stores().map(|(ty, _)| ty).collect();
    let specs = model.roles.iter().filter_map(|role| match role {
        Role::Store { ty, name, shape } => Some(match shape {
            StoreShape::Plain => {
                quote_spanned!(ty.span()=> <#ty as #private::StateStore>::spec(#name))
            }
            StoreShape::Window {
                size,
                retention,
                retain_duplicates,
            } => {
                let duplicates = retain_duplicates.then(|| quote!(.with_retained_duplicates()));
                quote_spanned!(ty.span()=> <#ty>::spec_with(
                    #name,
                    ::core::time::Duration::from_millis(#retention),
                    ::core::time::Duration::from_millis(#size),
                ) #duplicates)
            }
            StoreShape::Session { retention } => quote_spanned!(ty.span()=> <#ty>::spec_with(
                #name,
                ::core::time::Duration::from_millis(#retention),
            )),
        }),
        _ => None,
    });
    let opens = model
        .stores()
        .map(|(ty, name)| quote_spanned!(ty.span()=> __streams_ctx.store::<#ty>(#name)?));

    let mut store_index = 0usize;
    let args = model.roles.iter().map(|role| match role {
        Role::Key { by_ref: true, .. } => quote!(&__streams_key),
        Role::Key { by_ref: false, .. } => quote!(::core::clone::Clone::clone(&__streams_key)),
        Role::Value { by_ref: true, .. } => quote!(&__streams_value),
        Role::Value { by_ref: false, .. } => quote!(__streams_value),
        Role::Context { by_ref: true } => quote!(#private::emit::record_context(__streams_ctx)?),
        Role::Context { by_ref: false } => {
            quote!(::core::clone::Clone::clone(#private::emit::record_context(__streams_ctx)?))
        }
        Role::Headers { mutable: false } => quote!(&__streams_headers),
        Role::Headers { mutable: true } => quote!(&mut __streams_headers),
        Role::Store { .. } => {
            let index = syn::Index::from(store_index);
            store_index += 1;
            quote!(&mut __streams_state.#index)
        }
    });
    let emit = emit(&model.shape, model.key_out.is_some(), &private, node_name);
    let key_out = match &model.key_out {
        Some(key_out) => quote_spanned!(key_out.span()=> #key_out),
        None => key.clone(),
    };
    // A timer's records carry any key the timer function chooses.
    let changes_key = (model.key_out.is_some() || !model.timers.is_empty()).then(|| {
        quote! {
            fn changes_key(&self) -> bool {
                true
            }
        }
    });
    let (timers, on_timer) = timers(model, &private);

    quote! {
        #function

        #(#cfg_attrs)*
        #[doc = #module_doc]
        #vis mod #ident {
            #[doc = #struct_doc]
            #[derive(Debug, Clone, Copy, Default)]
            pub struct Function;
        }

        #(#cfg_attrs)*
        const _: () = {
            impl #key_param #private::ProcessorFunction<#key, #value> for #ident::Function {
                type KeyOut = #key_out;
                type Output = #output_ty;
                type State = (#(#store_types,)*);

                fn name(&self) -> &'static str {
                    #node_name
                }

                fn stores(&self) -> ::std::vec::Vec<#private::StoreSpec> {
                    ::std::vec![#(#specs),*]
                }

                fn open(
                    &self,
                    __streams_ctx: &mut #private::InitContext<'_>,
                ) -> ::core::result::Result<Self::State, #private::ProcessError> {
                    ::core::result::Result::Ok((#(#opens,)*))
                }

                #[allow(unused_variables, unused_mut, clippy::unit_arg)]
                fn call(
                    &self,
                    __streams_state: &mut Self::State,
                    __streams_record: #private::Record<#key, #value>,
                    __streams_ctx: &mut #private::ProcessorContext<'_, Self::KeyOut, Self::Output>,
                ) -> ::core::result::Result<(), #private::ProcessError> {
                    let #private::Record {
                        key: __streams_key,
                        value: __streams_value,
                        timestamp: __streams_timestamp,
                        headers: mut __streams_headers,
                    } = __streams_record;
                    let __streams_output = #ident(#(#args),*);
                    #emit
                }

                #changes_key

                #timers

                #on_timer
            }
        };
    }
}

/// `timers()` and `on_timer()` for the `punctuate(...)` options: each timer function is called
/// with the time it fired and the processor's stores, in their order; rustc checks its
/// parameters and `TimerOutput` its output, both on the `with = ...` path.
fn timers(model: &ProcessorModel, private: &TokenStream) -> (TokenStream, TokenStream) {
    if model.timers.is_empty() {
        return (quote!(), quote!());
    }
    let node_name = &model.node_name;
    let specs = model.timers.iter().map(|timer| {
        let every = timer.every.millis;
        let on = if timer.wall_clock {
            quote!(WallClockTime)
        } else {
            quote!(StreamTime)
        };
        quote! {
            #private::Timer {
                every: ::core::time::Duration::from_millis(#every),
                on: #private::PunctuationType::#on,
            }
        }
    });
    let store_count = model.stores().count();
    let arms = model.timers.iter().enumerate().map(|(index, timer)| {
        let with = &timer.with;
        let stores = (0..store_count).map(|i| {
            let i = syn::Index::from(i);
            quote_spanned!(with.span()=> &mut __streams_state.#i)
        });
        quote_spanned! {with.span()=>
            #index => <_ as #private::emit::TimerOutput<Self::KeyOut, Self::Output>>::forward(
                #with(__streams_now #(, #stores)*),
                __streams_ctx,
                __streams_now,
                #node_name,
            ),
        }
    });
    (
        quote! {
            fn timers(&self) -> ::std::vec::Vec<#private::Timer> {
                ::std::vec![#(#specs),*]
            }
        },
        quote! {
            #[allow(unused_variables)]
            fn on_timer(
                &self,
                __streams_state: &mut Self::State,
                __streams_index: usize,
                __streams_now: i64,
                __streams_ctx: &mut #private::ProcessorContext<'_, Self::KeyOut, Self::Output>,
            ) -> ::core::result::Result<(), #private::ProcessError> {
                match __streams_index {
                    #(#arms)*
                    _ => ::core::result::Result::Ok(()),
                }
            }
        },
    )
}

fn emit(shape: &Shape, keyed: bool, private: &TokenStream, node_name: &syn::LitStr) -> TokenStream {
    let parts = if keyed {
        quote!(
            __streams_ctx,
            __streams_timestamp,
            __streams_headers,
            __streams_output
        )
    } else {
        quote!(
            __streams_ctx,
            __streams_key,
            __streams_timestamp,
            __streams_headers,
            __streams_output
        )
    };
    match (shape, keyed) {
        (Shape::One, false) => quote!(#private::emit::one(#parts)),
        (Shape::Optional, false) => quote!(#private::emit::optional(#parts)),
        (Shape::Many, false) => quote!(#private::emit::many(#parts)),
        (Shape::One, true) => quote!(#private::emit::keyed_one(#parts)),
        (Shape::Optional, true) => quote!(#private::emit::keyed_optional(#parts)),
        (Shape::Many, true) => quote!(#private::emit::keyed_many(#parts)),
        (Shape::Fallible(inner), _) => {
            let inner = emit(inner, keyed, private, node_name);
            quote! {
                let __streams_output = #private::emit::fallible(#node_name, __streams_output)?;
                #inner
            }
        }
    }
}
