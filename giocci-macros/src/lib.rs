//! The `#[giocci::remote]` attribute. Use it through the `giocci` crate,
//! which re-exports it and documents it.
//!
//! The macro works in phases: `model` parses the module into a small model
//! that keeps the original syntax for spans, `validate` collects every
//! problem, `guest` compiles the module to WebAssembly, and `expand`
//! writes the output, or `fallback` writes the errors plus harmless
//! stand-ins so that one mistake gives one error.

mod expand;
mod fallback;
mod guest;
mod model;
mod validate;

use proc_macro::TokenStream;

/// Compiles an inline module to a WebAssembly module an engine can run and
/// generates typed async stubs for its `pub fn`s. See the `giocci` crate.
#[proc_macro_attribute]
pub fn remote(args: TokenStream, input: TokenStream) -> TokenStream {
    remote_impl(args.into(), input.into()).into()
}

fn remote_impl(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item: syn::ItemMod = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(err) => {
            let err = syn::Error::new(
                err.span(),
                "#[giocci::remote] goes on an inline module, such as `pub mod math { ... }`",
            );
            return fallback::unparsed(err, input);
        }
    };

    let model = match model::RemoteModule::parse(args, &item) {
        Ok(model) => model,
        Err(err) => return fallback::expand(err, &item),
    };
    if let Err(err) = validate::validate(&model) {
        return fallback::expand(err, &model.item);
    }
    match guest::build(&model) {
        Ok(artifact) => expand::expand(&model, &artifact),
        Err(err) => fallback::expand(err, &model.item),
    }
}
