//! The output when the macro reports an error: the error itself, the module's
//! items so that local uses still resolve, and stand-ins for what the macro
//! would have generated, so that callers of `module()` or the stubs do not
//! get errors of their own.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemMod};

use crate::expand::wrap;
use crate::model::RemoteModule;
use crate::validate::has_name_conflicts;

/// The output for a module the macro understood but cannot compile.
pub fn expand(err: syn::Error, item: &ItemMod) -> TokenStream {
    let errors = err.to_compile_error();
    if item.content.is_none() {
        // Re-emitting `mod name;` would add a "file not found" error.
        return errors;
    }
    let model = match RemoteModule::parse(TokenStream::new(), item) {
        Ok(model) => model,
        Err(_) => return errors,
    };
    if has_name_conflicts(&model) {
        // The module defines a name the macro would add: emit it unchanged.
        let mut out = errors;
        out.extend(quote!(#item));
        return out;
    }
    let support = quote! {
        /// Stand-in: the module did not compile.
        pub fn module() -> ::giocci::Module {
            ::core::unreachable!()
        }
    };
    let methods: TokenStream = model
        .functions
        .iter()
        .map(|func| {
            let sig = &func.item.sig;
            let ident = &sig.ident;
            let generics = &sig.generics;
            let where_clause = &sig.generics.where_clause;
            let inputs = sig
                .inputs
                .iter()
                .filter(|input| matches!(input, FnArg::Typed(_)));
            let output = func.output();
            let inputs: Vec<_> = inputs.collect();
            let ident_async = quote::format_ident!("{}_async", ident);
            let ident_stream = quote::format_ident!("{}_stream", ident);
            quote! {
                #[allow(unused_variables, clippy::unused_async)]
                pub async fn #ident #generics (self, #(#inputs),*) -> ::giocci::Result<#output>
                #where_clause
                {
                    ::core::unreachable!()
                }

                #[allow(unused_variables, clippy::unused_async)]
                pub async fn #ident_async #generics (
                    self,
                    #(#inputs),*
                ) -> ::giocci::Result<::giocci::AsyncCall<#output>>
                #where_clause
                {
                    ::core::unreachable!()
                }

                #[allow(unused_variables)]
                pub fn #ident_stream<I>(
                    self,
                    args: I,
                ) -> ::giocci::futures::stream::Empty<(usize, ::giocci::Result<()>)> {
                    ::core::unreachable!()
                }
            }
        })
        .collect();
    let mut out = errors;
    out.extend(wrap(&model, support, methods));
    out
}

/// The output when the input is not a module at all.
pub fn unparsed(err: syn::Error, input: TokenStream) -> TokenStream {
    let mut out = err.to_compile_error();
    out.extend(input);
    out
}
