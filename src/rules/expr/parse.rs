//! Tokens and grammar of the attribute-expression language (`rules/expr`).
//!
//! `rules/` turns the source snapshot into desired target users; this file turns the text of
//! one `[attributes]` entry into a checked syntax tree, or the first error with its column.
//!
//! ```text
//! expr := "[" name "]"                      property reference
//!       | '"' text '"' | "'" text "'"       string literal (escapes \" \' \\)
//!       | name "(" [ arg { "," arg } ] ")"  function call
//! arg  := expr | integer                    (an integer only as the index of split)
//! ```
//!
//! Tokens are read on demand, so the error reported is always the leftmost one.

use super::functions::{Func, KNOWN_LIST};
use super::lex::{EXPECTED_EXPR, Lexer, Tok, Token, describe, starts_expression};
use super::suggest::{closest, eq_ignore_case};
use super::{ExprError, Node};

/// Deepest nesting of function calls accepted (keeps recursion bounded on any input).
const MAX_DEPTH: usize = 32;

/// Parses a whole expression: one `expr` and then the end of the text.
pub(super) fn parse(text: &str, properties: &[&str]) -> Result<Node, ExprError> {
    let mut parser = Parser {
        lexer: Lexer::new(text),
        properties,
        depth: 0,
    };
    let first = parser.next()?;
    let node = match parser.operand(first)? {
        (Operand::Node(node), _) => node,
        (Operand::Number(text), column) => return Err(number_misplaced(column, &text)),
    };
    let end = parser.next()?;
    if end.tok == Tok::End {
        return Ok(node);
    }
    let hint = if starts_expression(&end.tok) {
        " (to join values use append(a, b))"
    } else {
        ""
    };
    Err(ExprError::new(
        end.column,
        format!(
            "expected the end of the expression, found {}{hint}",
            describe(&end.tok)
        ),
    ))
}

/// What an argument position can hold before the function decides: an expression, or an
/// integer literal (meaningful only as split's index).
enum Operand {
    Node(Node),
    Number(String),
}

struct Parser<'a> {
    lexer: Lexer,
    properties: &'a [&'a str],
    depth: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Result<Token, ExprError> {
        self.lexer.next()
    }

    /// One operand starting with `token` (already read), with the column it starts at.
    fn operand(&mut self, token: Token) -> Result<(Operand, usize), ExprError> {
        let column = token.column;
        let operand = match token.tok {
            Tok::Property(name) => Operand::Node(Node::Property(self.resolve(&name, column)?)),
            Tok::Text(text) => Operand::Node(Node::Text(text)),
            Tok::Number(text) => Operand::Number(text),
            Tok::Ident(name) => Operand::Node(self.call(&name, column)?),
            tok => {
                let message = format!("{EXPECTED_EXPR}, found {}", describe(&tok));
                return Err(ExprError::new(column, message));
            }
        };
        Ok((operand, column))
    }

    /// The known spelling of property `name`, or an error with a suggestion.
    fn resolve(&self, name: &str, column: usize) -> Result<String, ExprError> {
        if let Some(known) = self.properties.iter().find(|k| eq_ignore_case(k, name)) {
            return Ok((*known).to_owned());
        }
        let message = if let Some(near) = closest(name, self.properties.iter().copied()) {
            format!("unknown property [{name}]; did you mean [{near}]?")
        } else if self.properties.is_empty() {
            format!("unknown property [{name}]; no properties are available here")
        } else {
            let mut known: Vec<&str> = self.properties.to_vec();
            known.sort_unstable();
            let list: Vec<String> = known.iter().map(|k| format!("[{k}]")).collect();
            format!(
                "unknown property [{name}]; expected one of {}",
                list.join(", ")
            )
        };
        Err(ExprError::new(column, message))
    }

    /// A function call whose name (at `column`) was just read.
    fn call(&mut self, name: &str, column: usize) -> Result<Node, ExprError> {
        let open = self.next()?;
        if open.tok != Tok::LParen {
            return Err(ExprError::new(column, self.bare_word(name)));
        }
        let Some(func) = Func::lookup(name) else {
            let message = match closest(name, Func::spellings()) {
                Some(near) => format!("unknown function `{name}`; did you mean `{near}`?"),
                None => format!("unknown function `{name}`; the functions are {KNOWN_LIST}"),
            };
            return Err(ExprError::new(column, message));
        };
        if self.depth >= MAX_DEPTH {
            let message = format!(
                "expression nested too deeply: at most {MAX_DEPTH} function calls inside one another"
            );
            return Err(ExprError::new(column, message));
        }
        self.depth += 1;
        let args = self.arguments(func, name)?;
        self.depth -= 1;
        if !func.accepts(args.len()) {
            return Err(ExprError::new(column, func.arity_message(name, args.len())));
        }
        build(func, name, args)
    }

    /// The message for a word not followed by `(`.
    fn bare_word(&self, name: &str) -> String {
        if let Some(known) = self.properties.iter().find(|k| eq_ignore_case(k, name)) {
            format!(
                "expected `(` after `{name}`; write [{known}] for the property or \"{name}\" for the text"
            )
        } else {
            format!(
                "expected `(` after `{name}`; a bare word is not an expression: write a \
                 [property], a \"string\" or a function call such as lower(...)"
            )
        }
    }

    /// The arguments after `(` up to and including `)`.
    fn arguments(&mut self, func: Func, name: &str) -> Result<Vec<(Operand, usize)>, ExprError> {
        let mut args = Vec::new();
        let first = self.next()?;
        if first.tok == Tok::RParen {
            return Ok(args);
        }
        args.push(self.operand(first)?);
        loop {
            let after = self.next()?;
            match after.tok {
                Tok::RParen => return Ok(args),
                Tok::Comma => {
                    let token = self.next()?;
                    args.push(self.operand(token)?);
                }
                tok => {
                    let full = func.arity().1.is_some_and(|max| args.len() >= max);
                    let message = if full {
                        format!(
                            "expected `)` after the arguments of {name}, found {}",
                            describe(&tok)
                        )
                    } else {
                        format!(
                            "expected `,` or `)` after argument {} of {name}, found {}",
                            args.len(),
                            describe(&tok)
                        )
                    };
                    return Err(ExprError::new(after.column, message));
                }
            }
        }
    }
}

/// The node for a call whose arity is already checked.
fn build(func: Func, name: &str, args: Vec<(Operand, usize)>) -> Result<Node, ExprError> {
    let mut nodes = Vec::with_capacity(args.len());
    let mut index = None;
    for (position, (operand, column)) in args.into_iter().enumerate() {
        let is_index = func == Func::Split && position == 2;
        match (operand, is_index) {
            (Operand::Number(text), true) => match text.parse::<i64>() {
                Ok(i) => index = Some(i),
                Err(_) => {
                    let message = format!(
                        "the index of {name} must be an integer such as 0 or -1, found `{text}`"
                    );
                    return Err(ExprError::new(column, message));
                }
            },
            (Operand::Node(node), true) => {
                let found = match node {
                    Node::Text(_) => "a string".to_owned(),
                    Node::Property(p) => format!("[{p}]"),
                    _ => "a function call".to_owned(),
                };
                let message = format!(
                    "the index of {name} must be an integer literal such as 0 or -1, found {found}"
                );
                return Err(ExprError::new(column, message));
            }
            (Operand::Number(text), false) => return Err(number_misplaced(column, &text)),
            (Operand::Node(node), false) => nodes.push(node),
        }
    }
    // Arity is checked before `build`; `take` falls back to "" only to stay total. The
    // culture argument of lower/upper is dropped here: it is accepted and ignored.
    let mut n = nodes.into_iter();
    Ok(match func {
        Func::Lower => Node::Lower(take(&mut n)),
        Func::Upper => Node::Upper(take(&mut n)),
        Func::Trim => Node::Trim(take(&mut n)),
        Func::Append => Node::Append(n.collect()),
        Func::Coalesce => Node::Coalesce(n.collect()),
        Func::Split => Node::Split {
            value: take(&mut n),
            separator: take(&mut n),
            index: index.unwrap_or(0),
        },
        Func::Replace => Node::Replace {
            value: take(&mut n),
            find: take(&mut n),
            with: take(&mut n),
        },
        Func::Default => Node::Default {
            value: take(&mut n),
            fallback: take(&mut n),
        },
    })
}

fn take(nodes: &mut std::vec::IntoIter<Node>) -> Box<Node> {
    Box::new(nodes.next().unwrap_or(Node::Text(String::new())))
}

fn number_misplaced(column: usize, text: &str) -> ExprError {
    let message = format!(
        "a number is only allowed as the index of split; write \"{text}\" for the text {text}"
    );
    ExprError::new(column, message)
}
