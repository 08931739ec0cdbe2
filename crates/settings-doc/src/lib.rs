//! `#[derive(SettingsDoc)]` gives a settings struct an associated function
//!
//! ```ignore
//! pub fn setting_docs() -> Vec<(String, &'static str)>
//! ```
//!
//! listing each field's path (`port`, or `rate_limit.per_second` below a field marked
//! `#[setting(section)]`) with the first paragraph of its doc comment. A service's `--help`
//! pairs these with the serialized defaults, so the text a person reads is the doc comment
//! beside the field, written once. A field without a doc comment is left out; the kits' tests
//! fail on any default that has no text.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Expr, Fields, Lit, Meta, parse_macro_input};

#[proc_macro_derive(SettingsDoc, attributes(setting))]
pub fn derive_settings_doc(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(input, "SettingsDoc needs a struct"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            input,
            "SettingsDoc needs named fields",
        ));
    };
    let mut entries = Vec::new();
    for field in &fields.named {
        let name = field.ident.as_ref().expect("named").to_string();
        let mut section = false;
        for attribute in field.attrs.iter().filter(|a| a.path().is_ident("setting")) {
            attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("section") {
                    section = true;
                    Ok(())
                } else {
                    Err(meta.error("expected `section`"))
                }
            })?;
        }
        let ty = &field.ty;
        if section {
            entries.push(quote! {
                for (path, doc) in <#ty>::setting_docs() {
                    docs.push((format!("{}.{}", #name, path), doc));
                }
            });
        } else if let Some(doc) = first_paragraph(&field.attrs) {
            entries.push(quote! { docs.push((#name.to_owned(), #doc)); });
        }
    }
    let ident = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #ident #type_generics #where_clause {
            /// Each setting's path below this section and what its doc comment says.
            pub fn setting_docs() -> ::std::vec::Vec<(::std::string::String, &'static str)> {
                let mut docs = ::std::vec::Vec::new();
                #(#entries)*
                docs
            }
        }
    })
}

/// The doc comment's first paragraph, its lines joined by spaces.
fn first_paragraph(attributes: &[syn::Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attribute in attributes {
        let Meta::NameValue(pair) = &attribute.meta else {
            continue;
        };
        if !pair.path.is_ident("doc") {
            continue;
        }
        if let Expr::Lit(literal) = &pair.value
            && let Lit::Str(text) = &literal.lit
        {
            let line = text.value().trim().to_owned();
            if line.is_empty() && !lines.is_empty() {
                break;
            }
            if !line.is_empty() {
                lines.push(line);
            }
        }
    }
    (!lines.is_empty()).then(|| lines.join(" "))
}
