//! The output for a module that validated and compiled.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::guest::Artifact;
use crate::model::{RemoteFn, RemoteModule};

/// The module as written, plus `module()`, `remote()` and `Remote`.
pub fn expand(model: &RemoteModule, artifact: &Artifact) -> TokenStream {
    let wasm = Literal::byte_string(&artifact.wasm);
    let digest = artifact
        .digest
        .iter()
        .map(|byte| Literal::u8_suffixed(*byte));
    let name = &model.name;
    let module_doc = format!(
        "The `{name}` module compiled to WebAssembly ({} bytes), ready for \
         `Client::save_module`.",
        artifact.wasm.len()
    );
    let support = quote! {
        #[doc = #module_doc]
        pub fn module() -> ::giocci::Module {
            ::giocci::Module::__from_macro(#name, #wasm, [#(#digest),*])
        }
    };
    wrap(model, support, stubs(model))
}

/// Re-emits the module with `support` and the `Remote` stubs added.
pub fn wrap(model: &RemoteModule, support: TokenStream, methods: TokenStream) -> TokenStream {
    let item = &model.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let ident = &item.ident;
    let items = &model.items;
    let name = &model.name;
    let remote_doc = format!(
        "Runs the functions of `{name}` on an engine, through `client`, with the client's \
         timeout."
    );
    quote! {
        #(#attrs)*
        #vis mod #ident {
            #(#items)*

            #support

            #[doc = #remote_doc]
            pub fn remote(client: &::giocci::Client) -> Remote<'_> {
                Remote { client, timeout: client.timeout() }
            }

            /// Typed stubs: each `pub fn` of this module as an async method
            /// that runs it on an engine.
            #[derive(Debug, Clone, Copy)]
            pub struct Remote<'c> {
                client: &'c ::giocci::Client,
                timeout: ::core::time::Duration,
            }

            impl<'c> Remote<'c> {
                /// Gives each call made through these stubs `timeout`
                /// instead of the client's.
                pub fn with_timeout(self, timeout: ::core::time::Duration) -> Self {
                    Remote { timeout, ..self }
                }

                #methods
            }
        }
    }
}

fn stubs(model: &RemoteModule) -> TokenStream {
    let name = &model.name;
    model
        .functions
        .iter()
        .map(|func| stub(name, func))
        .collect()
}

fn stub(module: &str, func: &RemoteFn) -> TokenStream {
    let ident = func.ident();
    let function = ident.to_string();
    let docs = func
        .item
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"));
    let params = func.params.iter().map(|param| {
        let (ident, ty) = (&param.ident, &param.ty);
        quote!(#ident: #ty)
    });
    let args = func.params.iter().map(|param| &param.ident);
    let output = func.output();
    let call_doc = format!("Runs `{module}::{function}` on an engine.");
    quote! {
        #(#docs)*
        #[doc = ""]
        #[doc = #call_doc]
        pub async fn #ident(&self, #(#params),*) -> ::giocci::Result<#output> {
            self.client
                .exec_func_with_timeout(#module, #function, &(#(#args,)*), self.timeout)
                .await
        }
    }
}
