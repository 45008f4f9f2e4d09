//! The output for a module that validated and compiled.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

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
                Remote {
                    client,
                    timeout: client.timeout(),
                    in_flight: ::giocci::DEFAULT_IN_FLIGHT,
                }
            }

            /// Typed stubs for each `pub fn` of this module: `f` runs it on
            /// an engine and waits, `f_async` starts it and returns a handle
            /// to await, `f_stream` runs it once per item of an iterator of
            /// argument tuples and yields the results as they complete.
            #[derive(Debug, Clone, Copy)]
            pub struct Remote<'c> {
                client: &'c ::giocci::Client,
                timeout: ::core::time::Duration,
                in_flight: usize,
            }

            impl<'c> Remote<'c> {
                /// Gives each call made through these stubs `timeout`
                /// instead of the client's.
                pub fn with_timeout(self, timeout: ::core::time::Duration) -> Self {
                    Remote { timeout, ..self }
                }

                /// Lets the `_stream` stubs keep up to `in_flight` calls under
                /// way at once (default `giocci::DEFAULT_IN_FLIGHT`).
                pub fn with_in_flight(self, in_flight: usize) -> Self {
                    Remote { in_flight, ..self }
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
    let ident_async = format_ident!("{}_async", ident);
    let ident_stream = format_ident!("{}_stream", ident);
    let function = ident.to_string();
    let docs: Vec<_> = func
        .item
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .collect();
    let params: Vec<_> = func
        .params
        .iter()
        .map(|param| {
            let (ident, ty) = (&param.ident, &param.ty);
            quote!(#ident: #ty)
        })
        .collect();
    let idents: Vec<_> = func.params.iter().map(|param| &param.ident).collect();
    let types = func.params.iter().map(|param| &param.ty);
    let output = func.output();
    // Byte vectors travel as `ByteBuf`, which encodes and decodes in one
    // piece; on the wire it is the same as the `Vec<u8>` it carries.
    let borrowed: Vec<_> = func
        .params
        .iter()
        .map(|param| {
            let ident = &param.ident;
            match param.is_bytes {
                true => quote!(::giocci::codec::ByteSlice(&#ident)),
                false => quote!(#ident),
            }
        })
        .collect();
    let stream_args = match func.params.iter().any(|param| param.is_bytes) {
        true => {
            let owned = func.params.iter().map(|param| {
                let ident = &param.ident;
                match param.is_bytes {
                    true => quote!(::giocci::codec::ByteBuf(#ident)),
                    false => quote!(#ident),
                }
            });
            quote! {
                ::core::iter::IntoIterator::into_iter(args)
                    .map(|(#(#idents,)*)| (#(#owned,)*))
            }
        }
        false => quote!(args),
    };
    let (wire, unwrap_call, unwrap_async, unwrap_stream) = match func.returns_bytes {
        true => (
            quote!(::giocci::codec::ByteBuf),
            quote!(.map(|__giocci_bytes| __giocci_bytes.0)),
            quote!(.map(|__giocci_call| {
                __giocci_call.decoding_with(::giocci::codec::decode_byte_vec)
            })),
            quote! {
                ::giocci::futures::StreamExt::map(__giocci_results, |(__giocci_index, __giocci_result)| {
                    (__giocci_index, __giocci_result.map(|__giocci_bytes| __giocci_bytes.0))
                })
            },
        ),
        false => (
            quote!(#output),
            TokenStream::new(),
            TokenStream::new(),
            quote!(__giocci_results),
        ),
    };
    let call_doc = format!("Runs `{module}::{function}` on an engine and waits for its result.");
    let async_doc = format!(
        "Starts `{module}::{function}` on an engine; await the returned call for its result."
    );
    let stream_doc = format!(
        "Runs `{module}::{function}` once per argument tuple of `args`, yielding `(index, \
         result)` pairs in completion order."
    );
    quote! {
        #(#docs)*
        #[doc = ""]
        #[doc = #call_doc]
        pub async fn #ident(self, #(#params),*) -> ::giocci::Result<#output> {
            self.client
                .exec_func_with_timeout::<_, #wire>(
                    #module,
                    #function,
                    &(#(#borrowed,)*),
                    self.timeout,
                )
                .await
                #unwrap_call
        }

        #[doc = #async_doc]
        pub async fn #ident_async(
            self,
            #(#params),*
        ) -> ::giocci::Result<::giocci::AsyncCall<#output>> {
            self.client
                .exec_func_async_with_timeout::<_, #output>(
                    #module,
                    #function,
                    &(#(#borrowed,)*),
                    self.timeout,
                )
                .await
                #unwrap_async
        }

        #[doc = #stream_doc]
        pub fn #ident_stream<__GiocciArgs>(
            self,
            args: __GiocciArgs,
        ) -> impl ::giocci::futures::Stream<Item = (usize, ::giocci::Result<#output>)> + 'c
        where
            __GiocciArgs: ::core::iter::IntoIterator<Item = (#(#types,)*)> + 'c,
        {
            let __giocci_results = self.client.exec_stream_with_timeout::<_, #wire, _>(
                #module,
                #function,
                #stream_args,
                self.in_flight,
                self.timeout,
            );
            #unwrap_stream
        }
    }
}
