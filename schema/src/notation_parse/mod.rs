//! Reading the notation back: [`Type::parse`], the inverse of `Display for Type` for the
//! types that have no name.
//!
//! A struct or enum prints as its name alone, which says nothing of its fields or
//! variants, so a name cannot be read back; such a type is described as an object of the
//! JSON form instead (see [`Type::from_json`]). Everything else reads back to the type it
//! was printed from, except `()`: the unit type and the empty tuple both print so, and it
//! reads as the unit type.

mod error;

use core::str::FromStr;

pub use error::{NotationError, NotationErrorKind};

use crate::model::{Type, MAX_DEPTH};

impl Type {
    /// Reads a type from the notation `Display` writes: `()`, `bool`, `u8` to `u128`, `i8`
    /// to `i128`, `f32`, `f64`, `char`, `String`, `String<N>`, `Option<T>`, `Vec<T>`,
    /// `Vec<T, N>`, `Map<K, V>`, `Map<K, V, N>`, tuples `(A, B)` and `(A,)`, arrays
    /// `[T; N]`, `handle` (of any interface) and `handle Name` (a name of ASCII letters,
    /// digits and `_`; another is given as `{"type": "handle", "interface": ...}`).
    /// Whitespace may stand between any two tokens. A bound `N` is at least 1 (leave it out
    /// for none).
    ///
    /// Structs and enums cannot be read by name (describe them with [`Type::from_json`]),
    /// nor the empty tuple (`()` is the unit type). Types nest at most [`MAX_DEPTH`] levels.
    ///
    /// ```
    /// use wirecall_schema::Type;
    ///
    /// let ty = Type::parse("Map<String<8>, Vec<u8, 200>>")?;
    /// assert_eq!(ty, Type::map(0, Type::string(8), Type::seq(200, Type::U8)));
    /// assert_eq!(ty.to_string(), "Map<String<8>, Vec<u8, 200>>");
    /// let error = Type::parse("Vec<>").unwrap_err();
    /// assert_eq!(error.to_string(), r#"expected a type at 4 in "Vec<>", got `>`"#);
    /// # Ok::<(), wirecall_schema::NotationError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`NotationError`], with the byte where the problem starts and what was expected there.
    pub fn parse(text: &str) -> Result<Type, NotationError> {
        parse_at(text, 1)
    }
}

impl FromStr for Type {
    type Err = NotationError;

    /// As [`Type::parse`].
    fn from_str(text: &str) -> Result<Type, NotationError> {
        Type::parse(text)
    }
}

/// Reads a type that stands at nesting level `depth` (1 at the top), so that a notation
/// inside a JSON description counts the levels above it.
pub(crate) fn parse_at(text: &str, depth: usize) -> Result<Type, NotationError> {
    let mut p = Parser { text, pos: 0 };
    let ty = p.ty(depth)?;
    match p.peek() {
        Token::End => Ok(ty),
        _ => Err(p.expected("the end")),
    }
}

/// One token of the notation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// A name: ASCII letters, digits and `_`, not starting with a digit.
    Name(&'a str),
    /// ASCII digits.
    Number(&'a str),
    /// Any other character.
    Punct(char),
    End,
}

struct Parser<'a> {
    text: &'a str,
    /// Where the next token starts (after [`Parser::skip_space`]).
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The next token, without taking it.
    fn peek(&mut self) -> Token<'a> {
        self.skip_space();
        let rest = self.rest();
        let Some(first) = rest.chars().next() else {
            return Token::End;
        };
        let word = |rest: &'a str| {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest.get(..len).unwrap_or_default()
        };
        if first.is_ascii_digit() {
            let len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            Token::Number(rest.get(..len).unwrap_or_default())
        } else if first.is_ascii_alphabetic() || first == '_' {
            Token::Name(word(rest))
        } else {
            Token::Punct(first)
        }
    }

    fn advance(&mut self, token: Token<'a>) {
        self.pos += match token {
            Token::Name(s) | Token::Number(s) => s.len(),
            Token::Punct(c) => c.len_utf8(),
            Token::End => 0,
        };
    }

    /// Takes `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Token::Punct(c) {
            self.advance(Token::Punct(c));
            return true;
        }
        false
    }

    /// Takes `c`, which must come next.
    fn expect(&mut self, c: char, expected: &'static str) -> Result<(), NotationError> {
        if self.eat(c) {
            return Ok(());
        }
        Err(self.expected(expected))
    }

    /// An error at the next token: `expected`, got that token.
    fn expected(&mut self, expected: &'static str) -> NotationError {
        let found = match self.peek() {
            Token::End => "the end".to_owned(),
            Token::Name(s) | Token::Number(s) => format!("`{}`", shortened(s)),
            Token::Punct(c) => format!("`{c}`"),
        };
        self.error(self.pos, NotationErrorKind::Expected { expected, found })
    }

    fn error(&self, offset: usize, kind: NotationErrorKind) -> NotationError {
        NotationError {
            text: self.text.to_owned(),
            offset,
            kind,
        }
    }

    /// A `u32`: a length, or with `bound`, a bound (above 0, since 0 means no bound and is
    /// written by leaving the bound out).
    fn number(&mut self, bound: bool) -> Result<u32, NotationError> {
        let Token::Number(digits) = self.peek() else {
            return Err(self.expected(if bound { "a bound" } else { "a length" }));
        };
        match digits.parse::<u32>() {
            Ok(0) if bound => Err(self.expected("a bound above 0 (leave it out for none)")),
            Ok(n) => {
                self.advance(Token::Number(digits));
                Ok(n)
            }
            Err(_) => Err(self.expected("a number up to 4294967295")),
        }
    }

    /// A type at nesting level `depth`.
    fn ty(&mut self, depth: usize) -> Result<Type, NotationError> {
        self.skip_space();
        if depth > MAX_DEPTH {
            return Err(self.error(self.pos, NotationErrorKind::TooDeep));
        }
        let inner = depth + 1;
        let start = self.pos;
        let name = match self.peek() {
            Token::Name(name) => name,
            Token::Punct('(') => {
                self.advance(Token::Punct('('));
                return self.tuple(inner);
            }
            Token::Punct('[') => {
                self.advance(Token::Punct('['));
                let item = self.ty(inner)?;
                self.expect(';', "`;`")?;
                let len = self.number(false)?;
                self.expect(']', "`]`")?;
                return Ok(Type::array(len, item));
            }
            _ => return Err(self.expected("a type")),
        };
        self.advance(Token::Name(name));
        Ok(match name {
            "bool" => Type::Bool,
            "u8" => Type::U8,
            "u16" => Type::U16,
            "u32" => Type::U32,
            "u64" => Type::U64,
            "u128" => Type::U128,
            "i8" => Type::I8,
            "i16" => Type::I16,
            "i32" => Type::I32,
            "i64" => Type::I64,
            "i128" => Type::I128,
            "f32" => Type::F32,
            "f64" => Type::F64,
            "char" => Type::Char,
            "String" if self.eat('<') => {
                let max = self.number(true)?;
                self.expect('>', "`>`")?;
                Type::string(max)
            }
            "String" => Type::string(0), // no `<` followed: no bound
            "Option" => {
                self.expect('<', "`<`")?;
                let some = self.ty(inner)?;
                self.expect('>', "`>`")?;
                Type::option(some)
            }
            "Vec" => {
                self.expect('<', "`<`")?;
                let item = self.ty(inner)?;
                let max = self.bound()?;
                Type::seq(max, item)
            }
            "Map" => {
                self.expect('<', "`<`")?;
                let key = self.ty(inner)?;
                self.expect(',', "`,`")?;
                let value = self.ty(inner)?;
                let max = self.bound()?;
                Type::map(max, key, value)
            }
            "handle" => match self.peek() {
                Token::Name(interface) => {
                    self.advance(Token::Name(interface));
                    Type::handle(interface)
                }
                _ => Type::handle(""),
            },
            _ => {
                let kind = NotationErrorKind::UnknownType(shortened(name));
                return Err(self.error(start, kind));
            }
        })
    }

    /// The end of `Vec<T` or `Map<K, V`: `>`, or `, N>` with a bound.
    fn bound(&mut self) -> Result<u32, NotationError> {
        if self.eat(',') {
            let max = self.number(true)?;
            self.expect('>', "`>`")?;
            return Ok(max);
        }
        self.expect('>', "`,` or `>`")?;
        Ok(0)
    }

    /// The rest of a tuple after `(`, its items at level `inner`: `)` (the unit type),
    /// `A,)`, `A, B)` or `A, B,)`.
    fn tuple(&mut self, inner: usize) -> Result<Type, NotationError> {
        if self.eat(')') {
            return Ok(Type::Unit);
        }
        let mut items = vec![self.ty(inner)?];
        loop {
            if self.eat(',') {
                if self.eat(')') {
                    break;
                }
                items.push(self.ty(inner)?);
            } else if self.peek() != Token::Punct(')') {
                return Err(self.expected("`,` or `)`"));
            } else if items.len() == 1 {
                // `(A)` is A in Rust, which `Display` never writes: refuse rather than guess.
                return Err(self.expected("`,` (a tuple of one is written `(A,)`)"));
            } else {
                self.advance(Token::Punct(')'));
                break;
            }
        }
        Ok(Type::Tuple(items))
    }
}

/// A token as an error shows it: cut after 32 characters, since it may be anything.
fn shortened(token: &str) -> String {
    const MAX: usize = 32;
    match token.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", token.get(..cut).unwrap_or_default()),
        None => token.to_owned(),
    }
}
