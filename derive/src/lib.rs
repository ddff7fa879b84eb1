//! `#[derive(Schema)]` for wirecall: describes a struct or enum as postcard encodes it, so
//! that a service's manifest (built at compile time by `wirecall::service!`) can name its
//! fields and variants. Use it through `wirecall` with feature `derive`:
//!
//! ```ignore
//! #[derive(serde::Serialize, serde::Deserialize, wirecall::Schema)]
//! pub struct Info { pub version: u32, pub name: heapless::String<16> }
//! ```
//!
//! The description follows serde's default encoding (fields in declaration order, variants
//! by position). `#[serde(...)]` attributes can change that encoding (renames, skipped
//! fields, untagged enums), so the derive refuses them rather than describe a type wrongly.
//! Generic parameters get a `Schema` bound. Recursive types cannot be described (their
//! description would be infinite) and fail to compile.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Fields};

/// Implements `wirecall::Schema` for a struct or enum.
#[proc_macro_derive(Schema)]
pub fn derive_schema(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    refuse_serde_attributes(&input.attrs)?;
    let name = &input.ident;
    // Names as serde writes them: a raw identifier (`r#type`) without its `r#`.
    let text = name.unraw().to_string();
    let ty = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => {
                let fields = named(&f.named)?;
                quote!(::wirecall::Type::Struct { name: #text, fields: &[#(#fields),*] })
            }
            Fields::Unnamed(f) if f.unnamed.len() == 1 => {
                refuse_serde_attributes(&f.unnamed[0].attrs)?;
                let inner = type_of(&f.unnamed[0].ty);
                quote!(::wirecall::Type::Newtype { name: #text, inner: #inner })
            }
            Fields::Unnamed(f) => {
                let fields = unnamed(&f.unnamed)?;
                quote!(::wirecall::Type::TupleStruct { name: #text, fields: &[#(#fields),*] })
            }
            Fields::Unit => quote!(::wirecall::Type::UnitStruct { name: #text }),
        },
        Data::Enum(e) => {
            let mut variants = Vec::new();
            for v in &e.variants {
                refuse_serde_attributes(&v.attrs)?;
                let vname = v.ident.unraw().to_string();
                let shape = match &v.fields {
                    Fields::Unit => quote!(::wirecall::VariantShape::Unit),
                    Fields::Unnamed(f) if f.unnamed.len() == 1 => {
                        refuse_serde_attributes(&f.unnamed[0].attrs)?;
                        let inner = type_of(&f.unnamed[0].ty);
                        quote!(::wirecall::VariantShape::Newtype(#inner))
                    }
                    Fields::Unnamed(f) => {
                        let fields = unnamed(&f.unnamed)?;
                        quote!(::wirecall::VariantShape::Tuple(&[#(#fields),*]))
                    }
                    Fields::Named(f) => {
                        let fields = named(&f.named)?;
                        quote!(::wirecall::VariantShape::Struct(&[#(#fields),*]))
                    }
                };
                variants.push(quote!(::wirecall::Variant { name: #vname, shape: #shape }));
            }
            quote!(::wirecall::Type::Enum { name: #text, variants: &[#(#variants),*] })
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span(),
                "wirecall::Schema cannot describe a union (serde does not encode unions)",
            ))
        }
    };
    let mut generics = input.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(syn::parse_quote!(::wirecall::Schema));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::wirecall::Schema for #name #ty_generics #where_clause {
            const TYPE: &'static ::wirecall::Type = &#ty;
        }
    })
}

fn type_of(ty: &syn::Type) -> Tokens {
    quote_spanned!(ty.span()=> <#ty as ::wirecall::Schema>::TYPE)
}

fn named(
    fields: &syn::punctuated::Punctuated<syn::Field, syn::token::Comma>,
) -> syn::Result<Vec<Tokens>> {
    fields
        .iter()
        .map(|f| {
            refuse_serde_attributes(&f.attrs)?;
            // A raw identifier (`r#type`) is encoded by serde without its `r#`.
            let name = f
                .ident
                .as_ref()
                .map(|i| i.unraw().to_string())
                .unwrap_or_default();
            let ty = type_of(&f.ty);
            Ok(quote!(::wirecall::Field { name: #name, ty: #ty }))
        })
        .collect()
}

fn unnamed(
    fields: &syn::punctuated::Punctuated<syn::Field, syn::token::Comma>,
) -> syn::Result<Vec<Tokens>> {
    fields
        .iter()
        .map(|f| {
            refuse_serde_attributes(&f.attrs)?;
            Ok(type_of(&f.ty))
        })
        .collect()
}

fn refuse_serde_attributes(attrs: &[syn::Attribute]) -> syn::Result<()> {
    match attrs.iter().find(|a| a.path().is_ident("serde")) {
        Some(a) => Err(syn::Error::new(
            a.span(),
            "wirecall::Schema describes serde's default encoding; #[serde(...)] attributes \
             can change it, so they are not supported on a type that derives Schema",
        )),
        None => Ok(()),
    }
}
