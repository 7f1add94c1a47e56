//! The model of a processor function: what each parameter is, and the shape of its output.
//! Building it checks the signature and records every problem on the token that has it.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat, Path, PathArguments, ReturnType, Type,
};

use super::attr::{self, Options};
use crate::errors::Errors;

/// How a processor's output becomes records.
pub(crate) enum Shape {
    /// `T`: one record.
    One,
    /// `Option<T>`: zero or one.
    Optional,
    /// `Vec<T>`: any number.
    Many,
    /// `Result<S, E>`: `S`'s shape, or the error.
    Fallible(Box<Shape>),
}

/// What a parameter receives.
pub(crate) enum Role {
    /// The record's key (`by_ref`: `&K`).
    Key { ty: Type, by_ref: bool },
    /// The record's value.
    Value { ty: Type, by_ref: bool },
    /// The input record's coordinates.
    Context { by_ref: bool },
    /// The record's headers: `&Headers` reads them, `&mut Headers` changes the headers the
    /// output records carry.
    Headers { mutable: bool },
    /// A state store: `&mut ty`, declared as `name`, of the shape its attribute gives.
    Store {
        ty: Type,
        name: LitStr,
        shape: StoreShape,
    },
}

/// What a store parameter's spec carries beyond its name.
pub(crate) enum StoreShape {
    /// A key-value store (or any other store type): the name is all.
    Plain,
    /// A window store: window size and retention in milliseconds, and whether it keeps every
    /// write of a key and window.
    Window {
        size: u64,
        retention: u64,
        retain_duplicates: bool,
    },
    /// A session store: retention in milliseconds.
    Session { retention: u64 },
}

/// The retention of a window or session store parameter that names none: a day, as Kafka
/// Streams' default for windowed stores (or the window, if that is longer).
const DEFAULT_RETENTION_MS: u64 = 86_400_000;

/// A checked `#[processor]` function.
pub(crate) struct ProcessorModel {
    pub(crate) ident: Ident,
    pub(crate) node_name: LitStr,
    pub(crate) krate: Path,
    pub(crate) roles: Vec<Role>,
    pub(crate) shape: Shape,
    /// The type of each output record's value.
    pub(crate) output: Type,
    /// The type of each output record's key, when the function returns `(key, value)` pairs.
    pub(crate) key_out: Option<Type>,
    /// The timers `punctuate(...)` declares, in order.
    pub(crate) timers: Vec<attr::TimerOption>,
}

const SHAPES: &str = "`T` forwards one record, `Option<T>` zero or one, `Vec<T>` any number, \
                      and `Result<_, E>` sends `E` to the processing-error handler";

/// The error for an item that is not a function, on its first token.
pub(crate) fn not_a_function(item: &TokenStream) -> syn::Error {
    let what = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(s)) => format!("the struct `{}`", s.ident),
        Ok(syn::Item::Enum(e)) => format!("the enum `{}`", e.ident),
        Ok(syn::Item::Const(c)) => format!("the constant `{}`", c.ident),
        Ok(syn::Item::Static(s)) => format!("the static `{}`", s.ident),
        Ok(syn::Item::Impl(_)) => "an impl block".to_owned(),
        Ok(syn::Item::Mod(m)) => format!("the module `{}`", m.ident),
        Ok(syn::Item::Trait(t)) => format!("the trait `{}`", t.ident),
        _ => "this item".to_owned(),
    };
    let first = item.clone().into_iter().take(3).collect::<TokenStream>();
    syn::Error::new_spanned(
        first,
        format!("#[processor] goes on a plain function, not on {what}"),
    )
}

impl ProcessorModel {
    /// Reads the model off `function`, removing our parameter attributes from it.
    pub(crate) fn from_function(
        function: &mut ItemFn,
        options: Options,
        errors: &mut Errors,
    ) -> Option<Self> {
        let sig = &mut function.sig;
        let ident = sig.ident.clone();
        if let Some(asyncness) = &sig.asyncness {
            errors.error_spanned_by(
                asyncness,
                format!("#[processor] function `{ident}` cannot be async: records are processed synchronously on the stream thread"),
            );
        }
        if let Some(constness) = &sig.constness {
            errors.error_spanned_by(
                constness,
                format!("#[processor] function `{ident}` cannot be const"),
            );
        }
        if let Some(unsafety) = &sig.unsafety {
            errors.error_spanned_by(
                unsafety,
                format!("#[processor] function `{ident}` cannot be unsafe"),
            );
        }
        if let Some(abi) = &sig.abi {
            errors.error_spanned_by(
                abi,
                format!("#[processor] function `{ident}` cannot have an ABI"),
            );
        }
        let lifetimes_only = sig
            .generics
            .params
            .iter()
            .all(|p| matches!(p, syn::GenericParam::Lifetime(_)));
        if !lifetimes_only || sig.generics.where_clause.is_some() {
            errors.error_spanned_by(
                &sig.generics,
                format!("#[processor] function `{ident}` cannot be generic: a topology node has concrete key and value types"),
            );
        }
        if let Some(variadic) = &sig.variadic {
            errors.error_spanned_by(variadic, "#[processor] functions cannot be variadic");
        }

        let mut roles = Vec::new();
        let mut records: Vec<(Type, bool, Span)> = Vec::new();
        // The record parameters' names, to catch `value, key` written in that order.
        let mut record_names: Vec<(String, Span)> = Vec::new();
        for input in &mut sig.inputs {
            let input_span = input.span();
            let typed = match input {
                FnArg::Receiver(receiver) => {
                    errors.error_spanned_by(
                        &*receiver,
                        format!("#[processor] function `{ident}` cannot take `self`: write a free function"),
                    );
                    continue;
                }
                FnArg::Typed(typed) => typed,
            };
            let store_attr = attr::take_store_attr(&mut typed.attrs, errors);
            match &*typed.ty {
                Type::Reference(reference) if is_processor_context(&reference.elem) => {
                    errors.error_spanned_by(
                        &*typed.ty,
                        format!("#[processor] function `{ident}` cannot take the processor's context: declare timers with `#[processor(punctuate(...))]`, read `&RecordContext` and `&Headers`, return records to forward; for anything else write a `Processor` and wire it with `process_with`"),
                    );
                }
                Type::Reference(reference) if is_headers(&reference.elem) => {
                    if let Some(store) = &store_attr {
                        errors.error_spanned_by(
                            &store.attr,
                            "#[store] goes on a `&mut` state store parameter",
                        );
                    }
                    roles.push(Role::Headers {
                        mutable: reference.mutability.is_some(),
                    });
                }
                Type::Reference(reference) if reference.mutability.is_some() => {
                    let chosen = store_attr.as_ref().and_then(|s| s.name.clone());
                    let name = match (chosen, &*typed.pat) {
                        (Some(name), _) => name,
                        (None, Pat::Ident(pat)) => {
                            let param = pat.ident.to_string();
                            let param = param.strip_prefix("r#").unwrap_or(&param);
                            LitStr::new(&format!("{ident}-{param}"), pat.ident.span())
                        }
                        (None, other) => {
                            errors.error_spanned_by(
                                other,
                                "a store parameter needs a plain name (it names the store), or #[store(name = \"...\")]",
                            );
                            continue;
                        }
                    };
                    let shape = store_shape(&reference.elem, store_attr.as_ref(), errors);
                    roles.push(Role::Store {
                        ty: (*reference.elem).clone(),
                        name,
                        shape,
                    });
                }
                Type::Reference(reference) if store_kind(&reference.elem).is_some() => {
                    errors.error_spanned_by(
                        &*typed.ty,
                        "store parameters must be `&mut`: a processor writes its stores (`&mut KeyValueStore<K, V>`)",
                    );
                }
                ty => {
                    if let Some(store) = &store_attr {
                        errors.error_spanned_by(
                            &store.attr,
                            "#[store] goes on a `&mut` state store parameter",
                        );
                    }
                    let (inner, by_ref) = match ty {
                        Type::Reference(r) => (&*r.elem, true),
                        other => (other, false),
                    };
                    if matches!(inner, Type::ImplTrait(_)) {
                        errors.error_spanned_by(
                            inner,
                            format!("#[processor] function `{ident}` cannot take `impl Trait`: name the record's type"),
                        );
                        continue;
                    }
                    if is_record_context(inner) {
                        roles.push(Role::Context { by_ref });
                    } else {
                        records.push((inner.clone(), by_ref, input_span));
                        if let Pat::Ident(pat) = &*typed.pat {
                            record_names.push((pat.ident.to_string(), pat.ident.span()));
                        }
                        roles.push(Role::Value {
                            ty: inner.clone(),
                            by_ref,
                        });
                    }
                }
            }
        }
        match records.len() {
            0 => errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!("#[processor] function `{ident}` needs the record's value as a parameter (or its key, then its value)"),
            )),
            1 => {}
            2 => {
                if let [(first, span), (second, _)] = &record_names[..]
                    && first == "value"
                    && second == "key"
                {
                    errors.push(syn::Error::new(
                        *span,
                        format!("the key comes first: #[processor] function `{ident}` takes its record as `key, value`, in that order"),
                    ));
                }
                // The first record parameter is the key.
                if let Some(role) = roles.iter_mut().find(|r| matches!(r, Role::Value { .. }))
                    && let Role::Value { ty, by_ref } = role
                {
                    *role = Role::Key {
                        ty: ty.clone(),
                        by_ref: *by_ref,
                    };
                }
            }
            _ => {
                for (_, _, span) in &records[2..] {
                    errors.push(syn::Error::new(
                        *span,
                        format!("unsupported parameter of #[processor] function `{ident}`: a processor takes the record's key and value, optionally `&RecordContext` and `&Headers` (or `&mut Headers` to change the output's), and `&mut` state stores"),
                    ));
                }
            }
        }

        let (shape, output, key_out) = match &sig.output {
            ReturnType::Default => {
                errors.push(syn::Error::new(
                    ident.span(),
                    format!("#[processor] function `{ident}` must return its output: {SHAPES}"),
                ));
                return None;
            }
            ReturnType::Type(_, ty) => {
                match shape_of(ty) {
                    Ok((shape, output)) => match output {
                        // `(K, V)`: the function sets the key.
                        Type::Tuple(pair) if pair.elems.len() == 2 => {
                            (shape, pair.elems[1].clone(), Some(pair.elems[0].clone()))
                        }
                        output => (shape, output, None),
                    },
                    Err(message) => {
                        errors.error_spanned_by(ty, format!("unsupported return type of #[processor] function `{ident}`: {message}"));
                        return None;
                    }
                }
            }
        };
        let node_name = options
            .name
            .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
        Some(ProcessorModel {
            ident,
            node_name,
            krate: options.krate,
            roles,
            shape,
            output,
            key_out,
            timers: options.timers,
        })
    }

    /// The key type, if the function takes the key.
    pub(crate) fn key(&self) -> Option<&Type> {
        self.roles.iter().find_map(|r| match r {
            Role::Key { ty, .. } => Some(ty),
            _ => None,
        })
    }

    /// The value type.
    pub(crate) fn value(&self) -> Option<&Type> {
        self.roles.iter().find_map(|r| match r {
            Role::Value { ty, .. } => Some(ty),
            _ => None,
        })
    }

    /// The store parameters, in order.
    pub(crate) fn stores(&self) -> impl Iterator<Item = (&Type, &LitStr)> {
        self.roles.iter().filter_map(|r| match r {
            Role::Store { ty, name, .. } => Some((ty, name)),
            _ => None,
        })
    }
}

use proc_macro2::Span;

/// The kinds of store a parameter's type names (by its last path segment).
#[derive(Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    KeyValue,
    Window,
    Session,
}

fn store_kind(ty: &Type) -> Option<StoreKind> {
    let Type::Path(path) = ty else { return None };
    match path.path.segments.last()?.ident.to_string().as_str() {
        "KeyValueStore" => Some(StoreKind::KeyValue),
        "WindowStore" => Some(StoreKind::Window),
        "SessionStore" => Some(StoreKind::Session),
        _ => None,
    }
}

/// The shape a store parameter's `#[store(...)]` gives it, checked against its type: a window
/// store needs its size; window and session options go on those stores only.
fn store_shape(ty: &Type, attr: Option<&attr::StoreAttr>, errors: &mut Errors) -> StoreShape {
    let kind = store_kind(ty);
    let size = attr.and_then(|a| a.window_size.clone());
    let retention = attr.and_then(|a| a.retention.clone());
    let duplicates = attr.and_then(|a| a.retain_duplicates.clone());
    let session = attr.and_then(|a| a.session.clone());
    if kind != Some(StoreKind::Window) {
        if let Some(size) = &size {
            errors.error_spanned_by(
                &size.literal,
                "`window_size` is for `WindowStore` parameters",
            );
        }
        if let Some(duplicates) = &duplicates {
            errors.error_spanned_by(
                duplicates,
                "`retain_duplicates` is for `WindowStore` parameters",
            );
        }
    }
    if kind != Some(StoreKind::Session)
        && let Some(session) = &session
    {
        errors.error_spanned_by(session, "`session` is for `SessionStore` parameters");
    }
    let windowed = matches!(kind, Some(StoreKind::Window | StoreKind::Session));
    if !windowed && let Some(retention) = &retention {
        errors.error_spanned_by(
            &retention.literal,
            "`retention` is for `WindowStore` and `SessionStore` parameters",
        );
    }
    match kind {
        Some(StoreKind::Window) => {
            let size = match size {
                Some(size) => size.millis,
                // Written but not a duration: reported where it was written.
                None if attr.is_some_and(|a| a.window_size_written) => 0,
                None => {
                    errors.error_spanned_by(
                        ty,
                        "a window store parameter needs its window size: `#[store(window_size = \"60s\")]` (and, if not a day, its `retention`)",
                    );
                    0
                }
            };
            let retention = match retention {
                Some(retention) if retention.millis < size => {
                    errors.error_spanned_by(
                        &retention.literal,
                        "a window store's retention must be at least its window size",
                    );
                    size
                }
                Some(retention) => retention.millis,
                None => DEFAULT_RETENTION_MS.max(size),
            };
            StoreShape::Window {
                size,
                retention,
                retain_duplicates: duplicates.is_some_and(|d| d.value),
            }
        }
        Some(StoreKind::Session) => StoreShape::Session {
            retention: retention.map_or(DEFAULT_RETENTION_MS, |r| r.millis),
        },
        _ => StoreShape::Plain,
    }
}

fn is_processor_context(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "ProcessorContext" || s.ident == "InitContext"))
}

fn is_headers(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Headers"))
}

fn is_record_context(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "RecordContext"))
}

/// The single generic argument of `Name<T>` if `ty`'s last segment is `name`.
fn generic_arg<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn shape_of(ty: &Type) -> Result<(Shape, Type), String> {
    match ty {
        Type::ImplTrait(_) => Err(format!(
            "return a `Vec<T>` instead of `impl Trait`; {SHAPES}"
        )),
        Type::Reference(_) => Err(format!("return an owned value, not a reference; {SHAPES}")),
        Type::Tuple(t) if t.elems.is_empty() => Err(format!("`()` forwards nothing; {SHAPES}")),
        Type::Never(_) => Err(format!("`!` forwards nothing; {SHAPES}")),
        _ => {
            if let Some(inner) = generic_arg(ty, "Result") {
                let (inner_shape, output) = shape_of(inner)?;
                if matches!(inner_shape, Shape::Fallible(_)) {
                    return Err("a `Result` inside a `Result` is ambiguous; flatten it".to_owned());
                }
                Ok((Shape::Fallible(Box::new(inner_shape)), output))
            } else if let Some(inner) = generic_arg(ty, "Option") {
                Ok((Shape::Optional, inner.clone()))
            } else if let Some(inner) = generic_arg(ty, "Vec") {
                Ok((Shape::Many, inner.clone()))
            } else {
                Ok((Shape::One, ty.clone()))
            }
        }
    }
}
