//! The annotated module, parsed into what the other phases need.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{FnArg, Ident, Item, ItemFn, ItemMod, LitStr, Pat, ReturnType, Token, Type, Visibility};

/// An inline module under `#[giocci::remote]`.
pub struct RemoteModule {
    /// The module as written.
    pub item: ItemMod,
    /// Its items (the module has a body; `parse` refuses one without).
    pub items: Vec<Item>,
    /// The name it is saved and called under.
    pub name: String,
    /// Where to point errors about the module as a whole.
    pub name_span: Span,
    /// The Rust edition the guest is compiled with.
    pub edition: String,
    /// Its `pub fn`s, in order.
    pub functions: Vec<RemoteFn>,
}

/// A `pub fn` of the module.
pub struct RemoteFn {
    /// The function as written.
    pub item: ItemFn,
    /// Its parameters, receivers excluded.
    pub params: Vec<Param>,
    /// Whether it returns a `Vec<u8>`, which travels as a
    /// `giocci::codec::ByteBuf`.
    pub returns_bytes: bool,
}

/// One parameter of a remote function.
pub struct Param {
    /// The name used in the generated stub.
    pub ident: Ident,
    /// The declared type.
    pub ty: Type,
    /// Whether it is a `Vec<u8>`, which travels as a
    /// `giocci::codec::ByteBuf`.
    pub is_bytes: bool,
}

impl RemoteFn {
    pub fn ident(&self) -> &Ident {
        &self.item.sig.ident
    }

    /// The declared return type, `()` when there is none.
    pub fn output(&self) -> Type {
        match &self.item.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        }
    }
}

impl RemoteModule {
    /// Parses the attribute's arguments and the module.
    pub fn parse(args: TokenStream, item: &ItemMod) -> syn::Result<Self> {
        let args = Args::parse(args)?;
        let Some((_, items)) = &item.content else {
            return Err(syn::Error::new_spanned(
                item,
                "#[giocci::remote] needs the module's body inline: write `mod name { ... }`, \
                 not `mod name;`",
            ));
        };
        let items = items.clone();

        let (name, name_span) = match &args.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (item.ident.to_string(), item.ident.span()),
        };
        // A module with its own `Vec` means something else by `Vec<u8>`.
        let std_vec = !items.iter().any(defines_vec);
        let functions = items
            .iter()
            .filter_map(|item| match item {
                Item::Fn(func) if matches!(func.vis, Visibility::Public(_)) => Some(func),
                _ => None,
            })
            .map(|func| {
                let returns_bytes = std_vec
                    && matches!(&func.sig.output, ReturnType::Type(_, ty) if is_byte_vec(ty));
                RemoteFn {
                    params: params(func, std_vec),
                    item: func.clone(),
                    returns_bytes,
                }
            })
            .collect();
        let edition = args
            .edition
            .map_or_else(|| "2024".to_owned(), |lit| lit.value());
        Ok(RemoteModule {
            item: item.clone(),
            items,
            name,
            name_span,
            edition,
            functions,
        })
    }
}

/// Whether `item` brings a `Vec` of the module's own into scope.
fn defines_vec(item: &Item) -> bool {
    fn names_vec(tree: &syn::UseTree) -> bool {
        match tree {
            syn::UseTree::Path(path) => names_vec(&path.tree),
            syn::UseTree::Name(name) => name.ident == "Vec",
            syn::UseTree::Rename(rename) => rename.rename == "Vec",
            syn::UseTree::Group(group) => group.items.iter().any(names_vec),
            // A glob could bring anything; only the standard `Vec` is
            // worth the risk of guessing.
            syn::UseTree::Glob(_) => false,
        }
    }
    match item {
        Item::Struct(item) => item.ident == "Vec",
        Item::Enum(item) => item.ident == "Vec",
        Item::Union(item) => item.ident == "Vec",
        Item::Type(item) => item.ident == "Vec",
        Item::Trait(item) => item.ident == "Vec",
        Item::Use(item) => names_vec(&item.tree),
        _ => false,
    }
}

fn params(func: &ItemFn, std_vec: bool) -> Vec<Param> {
    func.sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .enumerate()
        .map(|(index, typed)| {
            let ident = match &*typed.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => pat.ident.clone(),
                _ => Ident::new(&format!("arg{index}"), Span::call_site()),
            };
            Param {
                ident,
                is_bytes: std_vec && is_byte_vec(&typed.ty),
                ty: (*typed.ty).clone(),
            }
        })
        .collect()
}

/// `#[giocci::remote(name = "...", edition = "...")]`.
#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    edition: Option<LitStr>,
}

impl Args {
    /// Parses the arguments, reporting every bad one.
    fn parse(tokens: TokenStream) -> syn::Result<Args> {
        let mut args = Args::default();
        let mut errors: Option<syn::Error> = None;
        let mut fail = |err: syn::Error| match &mut errors {
            Some(errors) => errors.combine(err),
            None => errors = Some(err),
        };
        let pairs = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated.parse2(tokens)?;
        for pair in pairs {
            let value = match &pair.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => lit.clone(),
                other => {
                    fail(syn::Error::new_spanned(other, "expected a string literal"));
                    continue;
                }
            };
            if pair.path.is_ident("name") {
                if let Err(message) = crate::validate::giocci_name(&value.value()) {
                    fail(syn::Error::new_spanned(&value, message));
                }
                args.name = Some(value);
            } else if pair.path.is_ident("edition") {
                if !matches!(value.value().as_str(), "2018" | "2021" | "2024") {
                    fail(syn::Error::new_spanned(
                        &value,
                        "unknown edition; use \"2018\", \"2021\" or \"2024\"",
                    ));
                }
                args.edition = Some(value);
            } else {
                fail(syn::Error::new_spanned(
                    &pair.path,
                    "unknown argument; #[giocci::remote] takes `name = \"...\"` and \
                     `edition = \"...\"`",
                ));
            }
        }
        errors.map_or(Ok(args), Err)
    }
}

/// Whether `ty` is spelled `Vec<u8>`, `std::vec::Vec<u8>` or
/// `alloc::vec::Vec<u8>`.
pub fn is_byte_vec(ty: &Type) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    if path.qself.is_some() || path.path.leading_colon.is_some() {
        return false;
    }
    let segments = &path.path.segments;
    let names: Vec<String> = segments.iter().map(|seg| seg.ident.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if !matches!(
        names.as_slice(),
        ["Vec"] | ["std", "vec", "Vec"] | ["alloc", "vec", "Vec"]
    ) {
        return false;
    }
    let (last, init) = match segments.iter().collect::<Vec<_>>().split_last() {
        Some((last, init)) => (*last, init.to_vec()),
        None => return false,
    };
    if init.iter().any(|seg| !seg.arguments.is_none()) {
        return false;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [syn::GenericArgument::Type(Type::Path(inner))] => {
            inner.qself.is_none() && inner.path.is_ident("u8")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_with_its_own_vec_keeps_its_byte_vectors_as_written() {
        let item: ItemMod = syn::parse_quote! {
            mod own {
                pub struct Vec<T>(T);
                pub fn f(v: Vec<u8>) -> Vec<u8> { v }
            }
        };
        let model = RemoteModule::parse(TokenStream::new(), &item).unwrap();
        assert!(!model.functions[0].params[0].is_bytes);
        assert!(!model.functions[0].returns_bytes);

        let item: ItemMod = syn::parse_quote! {
            mod plain {
                pub fn f(v: Vec<u8>) -> Vec<u8> { v }
            }
        };
        let model = RemoteModule::parse(TokenStream::new(), &item).unwrap();
        assert!(model.functions[0].params[0].is_bytes);
        assert!(model.functions[0].returns_bytes);

        for import in [
            quote::quote!(
                use std::collections::VecDeque as Vec;
            ),
            quote::quote!(
                use self::inner::{Other, Vec};
            ),
        ] {
            let item: Item = syn::parse2(import).unwrap();
            assert!(defines_vec(&item));
        }
    }

    #[test]
    fn byte_vectors_are_recognised_by_their_spelling() {
        for yes in ["Vec<u8>", "std::vec::Vec<u8>", "alloc::vec::Vec<u8>"] {
            assert!(is_byte_vec(&syn::parse_str(yes).unwrap()), "{yes}");
        }
        for no in [
            "Vec<i8>",
            "Vec<Vec<u8>>",
            "Vec",
            "&[u8]",
            "[u8; 4]",
            "my::Vec<u8>",
            "::std::vec::Vec<u8>",
            "Vec<u8, A>",
            "Option<Vec<u8>>",
            "String",
        ] {
            assert!(!is_byte_vec(&syn::parse_str(no).unwrap()), "{no}");
        }
    }
}
