//! The notation read back: `Type::parse` is the inverse of `Display` for types without a
//! name, and says where and what when it cannot read.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use proptest::prelude::*;
use wirecall_schema::{NotationError, NotationErrorKind, Type, MAX_DEPTH};

fn says(text: &str) -> String {
    Type::parse(text).unwrap_err().to_string()
}

#[test]
fn every_form_reads() {
    let cases = [
        ("()", Type::Unit),
        ("bool", Type::Bool),
        ("u8", Type::U8),
        ("u16", Type::U16),
        ("u32", Type::U32),
        ("u64", Type::U64),
        ("u128", Type::U128),
        ("i8", Type::I8),
        ("i16", Type::I16),
        ("i32", Type::I32),
        ("i64", Type::I64),
        ("i128", Type::I128),
        ("f32", Type::F32),
        ("f64", Type::F64),
        ("char", Type::Char),
        ("String", Type::string(0)),
        ("String<32>", Type::string(32)),
        ("Option<char>", Type::option(Type::Char)),
        ("Vec<i64>", Type::seq(0, Type::I64)),
        ("Vec<u8, 200>", Type::seq(200, Type::U8)),
        ("Map<String, u8>", Type::map(0, Type::string(0), Type::U8)),
        (
            "Map<u8, Option<f32>, 4>",
            Type::map(4, Type::U8, Type::option(Type::F32)),
        ),
        ("(u8,)", Type::Tuple(vec![Type::U8])),
        ("(u8, bool)", Type::Tuple(vec![Type::U8, Type::Bool])),
        ("[u128; 4]", Type::array(4, Type::U128)),
        ("[(); 0]", Type::array(0, Type::Unit)),
        ("handle", Type::handle("")),
        ("handle Channel", Type::handle("Channel")),
        ("Option<handle>", Type::option(Type::handle(""))),
        ("Vec<handle Log, 3>", Type::seq(3, Type::handle("Log"))),
        ("String<4294967295>", Type::string(u32::MAX)),
    ];
    for (text, ty) in cases {
        assert_eq!(Type::parse(text), Ok(ty.clone()), "{text}");
        assert_eq!(text.parse::<Type>(), Ok(ty));
    }
}

#[test]
fn spaces_anywhere_between_tokens_and_trailing_commas_in_tuples() {
    let expected = Type::map(
        16,
        Type::string(8),
        Type::Tuple(vec![Type::array(2, Type::U8), Type::handle("Channel")]),
    );
    for text in [
        "Map<String<8>,([u8;2],handle Channel),16>",
        "  Map < String < 8 > ,\t( [ u8 ; 2 ] , handle   Channel , ) , 16 >\n",
    ] {
        assert_eq!(Type::parse(text), Ok(expected.clone()), "{text}");
    }
    assert_eq!(Type::parse(" ( ) "), Ok(Type::Unit));
    assert_eq!(Type::parse("(u8 , )"), Ok(Type::Tuple(vec![Type::U8])));
}

#[test]
fn errors_say_where_and_what_was_expected() {
    assert_eq!(says("Vec<>"), r#"expected a type at 4 in "Vec<>", got `>`"#);
    assert_eq!(says(""), r#"expected a type at 0 in "", got the end"#);
    assert_eq!(
        says("Vec<u8"),
        r#"expected `,` or `>` at 6 in "Vec<u8", got the end"#
    );
    assert_eq!(
        says("Vec<u8; 3>"),
        r#"expected `,` or `>` at 6 in "Vec<u8; 3>", got `;`"#
    );
    assert_eq!(
        says("Vec<u8, u8>"),
        r#"expected a bound at 8 in "Vec<u8, u8>", got `u8`"#
    );
    assert_eq!(
        says("String<0>"),
        r#"expected a bound above 0 (leave it out for none) at 7 in "String<0>", got `0`"#
    );
    assert_eq!(
        says("[u8; 4294967296]"),
        r#"expected a number up to 4294967295 at 5 in "[u8; 4294967296]", got `4294967296`"#
    );
    assert_eq!(
        says("[u8, 4]"),
        r#"expected `;` at 3 in "[u8, 4]", got `,`"#
    );
    assert_eq!(
        says("Map<u8>"),
        r#"expected `,` at 6 in "Map<u8>", got `>`"#
    );
    assert_eq!(
        says("Option u8"),
        r#"expected `<` at 7 in "Option u8", got `u8`"#
    );
    assert_eq!(
        says("(u8)"),
        r#"expected `,` (a tuple of one is written `(A,)`) at 3 in "(u8)", got `)`"#
    );
    assert_eq!(
        says("(u8, bool"),
        r#"expected `,` or `)` at 9 in "(u8, bool", got the end"#
    );
    assert_eq!(
        says("u8 u8"),
        r#"expected the end at 3 in "u8 u8", got `u8`"#
    );
    assert_eq!(says("u8>"), r#"expected the end at 2 in "u8>", got `>`"#);
    assert_eq!(says("é"), r#"expected a type at 0 in "é", got `é`"#);
    // Names that are no type: a misspelling, or a struct or enum, which needs its fields.
    assert_eq!(says("i33"), r#"unknown type "i33""#);
    assert_eq!(says("Vec<str>"), r#"unknown type "str" at 4 in "Vec<str>""#);
    let named = says("Option<Info>");
    assert!(
        named.starts_with(
            r#"unknown type "Info" at 7 in "Option<Info>" (a struct or enum cannot be named"#
        ),
        "{named}"
    );
    assert!(named.contains(r#"{"type": "struct", "name": "Info", "fields": {...}}"#));

    let error = Type::parse("Vec<>").unwrap_err();
    assert_eq!(
        error,
        NotationError {
            text: "Vec<>".into(),
            offset: 4,
            kind: NotationErrorKind::Expected {
                expected: "a type",
                found: "`>`".into()
            },
        }
    );
    let _: &dyn std::error::Error = &error;
}

#[test]
fn long_texts_show_only_the_part_around_the_problem() {
    let text = format!("({} bool!)", "u8, ".repeat(40));
    let error = says(&text);
    assert_eq!(
        error,
        r#"expected `,` or `)` at 166 in ..."8, u8, u8, u8, u8,  bool!)", got `!`"#
    );
    // A cut never splits a character.
    let text = format!("u8 x{}", "é".repeat(30));
    assert_eq!(
        says(&text),
        format!(
            "expected the end at 3 in \"u8 x{}\"..., got `x`",
            "é".repeat(12)
        )
    );
}

#[test]
fn nesting_is_bounded_even_for_hostile_texts() {
    let nested = |n: usize| format!("{}u8{}", "Option<".repeat(n - 1), ">".repeat(n - 1));
    let deepest = Type::parse(&nested(MAX_DEPTH)).unwrap();
    assert_eq!(deepest.to_string(), nested(MAX_DEPTH));
    let error = Type::parse(&nested(MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(error.kind, NotationErrorKind::TooDeep);
    assert_eq!(error.offset, 7 * MAX_DEPTH);
    assert!(error
        .to_string()
        .starts_with("types nested deeper than 32 levels at 224 in ..."));
    // Far deeper than a stack could recurse, in every nesting form.
    for open in ["Option<", "Vec<", "(", "[", "Map<u8, ", "Map<"] {
        let text = open.repeat(100_000);
        let error = Type::parse(&text).unwrap_err();
        assert_eq!(error.kind, NotationErrorKind::TooDeep, "{open}");
    }
    // A long flat tuple is no problem.
    let wide = format!("({})", "u8, ".repeat(100_000));
    assert_eq!(Type::parse(&wide), Ok(Type::Tuple(vec![Type::U8; 100_000])));
}

#[test]
fn the_empty_tuple_reads_as_the_unit_type() {
    // Both print as `()`; the notation cannot tell them apart, the JSON form can.
    assert_eq!(Type::Tuple(vec![]).to_string(), "()");
    assert_eq!(Type::parse("()"), Ok(Type::Unit));
}

proptest! {
    #[test]
    fn every_anonymous_type_reads_back_from_its_notation(ty in common::arb_anonymous_type()) {
        let text = ty.to_string();
        prop_assert_eq!(Type::parse(&text), Ok(ty));
    }

    #[test]
    fn any_text_reads_or_fails_without_panicking(text in "\\PC{0,40}") {
        if let Ok(ty) = Type::parse(&text) {
            // What reads prints as something that reads to the same type.
            prop_assert_eq!(Type::parse(&ty.to_string()), Ok(ty));
        }
    }

    #[test]
    fn damaged_notations_fail_without_panicking(
        ty in common::arb_anonymous_type(),
        cut in any::<prop::sample::Index>(),
        insert in prop::sample::select(vec!["<", ">", ",", ";", "(", ")", "[", "]", "0", "x", " "]),
    ) {
        let text = ty.to_string();
        let at = cut.index(text.len() + 1);
        let damaged = format!("{}{insert}{}", &text[..at], &text[at..]);
        let _ = Type::parse(&damaged);
        let _ = Type::parse(&text[..at]);
    }
}
