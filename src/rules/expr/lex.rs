//! Tokens of the attribute-expression language (`rules/expr`): brackets, strings with their
//! escapes, words, integers and punctuation, each with its 1-based column in characters.
//!
//! `rules/` turns the source snapshot into desired target users; the parser next door asks
//! this lexer for one token at a time, so a lexical error is reported only when it is the
//! leftmost problem in an `[attributes]` expression.

use super::ExprError;

/// What the parser says it wants when it finds something else.
pub(super) const EXPECTED_EXPR: &str =
    "expected an expression (a [property], a \"string\" or a function call)";

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Property(String),
    Text(String),
    Number(String),
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// 1-based, in characters.
    pub(super) column: usize,
}

/// Reads tokens from the text on demand.
pub(super) struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    pub(super) fn new(text: &str) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    /// The next token, skipping whitespace.
    pub(super) fn next(&mut self) -> Result<Token, ExprError> {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
        let column = self.pos + 1;
        let Some(&c) = self.chars.get(self.pos) else {
            return Ok(Token {
                tok: Tok::End,
                column,
            });
        };
        let tok = match c {
            '(' => self.single(Tok::LParen),
            ')' => self.single(Tok::RParen),
            ',' => self.single(Tok::Comma),
            '[' => self.property(column)?,
            '"' | '\'' => self.string(c, column)?,
            '0'..='9' => self.number(),
            '-' if self
                .chars
                .get(self.pos + 1)
                .is_some_and(char::is_ascii_digit) =>
            {
                self.number()
            }
            c if c.is_alphabetic() || c == '_' => {
                let word = self.take_while(|c| c.is_alphanumeric() || c == '_');
                Tok::Ident(word)
            }
            '+' | '&' => {
                let message = format!(
                    "unexpected `{c}`; there are no operators: to join values use append(a, b)"
                );
                return Err(ExprError::new(column, message));
            }
            c => {
                let message = format!(
                    "unexpected character `{}`; expected a [property], a \"string\", a function \
                     name, an integer, `(`, `,` or `)`",
                    c.escape_debug()
                );
                return Err(ExprError::new(column, message));
            }
        };
        Ok(Token { tok, column })
    }

    fn single(&mut self, tok: Tok) -> Tok {
        self.pos += 1;
        tok
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(|&c| keep(c)) {
            self.pos += 1;
        }
        self.chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// `-`? digits, and any letters, digits, `_` or `.` glued to them (so `1.5` or `2x` is
    /// one token that the index check can name).
    fn number(&mut self) -> Tok {
        let sign = if self.chars.get(self.pos) == Some(&'-') {
            self.pos += 1;
            "-"
        } else {
            ""
        };
        let rest = self.take_while(|c| c.is_alphanumeric() || c == '_' || c == '.');
        Tok::Number(format!("{sign}{rest}"))
    }

    /// `[name]`; the name is everything up to the first `]`, surrounding spaces ignored.
    fn property(&mut self, column: usize) -> Result<Tok, ExprError> {
        self.pos += 1;
        let name = self.take_while(|c| c != ']');
        if self.chars.get(self.pos).is_none() {
            let message = "unterminated property reference: expected `]` after the name";
            return Err(ExprError::new(column, message));
        }
        self.pos += 1;
        let name = name.trim();
        if name.is_empty() {
            let message = "expected a property name between `[` and `]`";
            return Err(ExprError::new(column, message));
        }
        Ok(Tok::Property(name.to_owned()))
    }

    /// A string literal opened by `quote` at `column`.
    fn string(&mut self, quote: char, column: usize) -> Result<Tok, ExprError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            let Some(&c) = self.chars.get(self.pos) else {
                let message = format!("unterminated string: expected a closing `{quote}`");
                return Err(ExprError::new(column, message));
            };
            self.pos += 1;
            if c == quote {
                return Ok(Tok::Text(text));
            }
            if c != '\\' {
                text.push(c);
                continue;
            }
            match self.chars.get(self.pos) {
                Some(&e @ ('"' | '\'' | '\\')) => {
                    text.push(e);
                    self.pos += 1;
                }
                Some(&e) => {
                    let message = format!(
                        "unknown escape `\\{}` in a string; the escapes are `\\\"`, `\\'` and `\\\\` \
                         (write `\\\\` for a backslash)",
                        e.escape_debug()
                    );
                    return Err(ExprError::new(self.pos, message));
                }
                None => {
                    let message = format!("unterminated string: expected a closing `{quote}`");
                    return Err(ExprError::new(column, message));
                }
            }
        }
    }
}

pub(super) fn starts_expression(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Ident(_) | Tok::Property(_) | Tok::Text(_) | Tok::Number(_)
    )
}

/// How a token is named in "found ..." messages.
pub(super) fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(name) => format!("`{name}`"),
        Tok::Property(name) => format!("[{name}]"),
        Tok::Text(_) => "a string".to_owned(),
        Tok::Number(text) => format!("`{text}`"),
        Tok::LParen => "`(`".to_owned(),
        Tok::RParen => "`)`".to_owned(),
        Tok::Comma => "`,`".to_owned(),
        Tok::End => "end of input".to_owned(),
    }
}
