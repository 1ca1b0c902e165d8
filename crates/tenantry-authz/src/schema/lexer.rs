//! Splits schema text into tokens, each with the line and column it starts at.

use std::fmt;

use super::{Position, SchemaError};

/// One token of the schema language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind<'src> {
    /// A name or a keyword: keywords are told apart by the parser, so that a
    /// misplaced one can be reported as "found `relation`" like any name.
    Identifier(&'src str),
    Colon,
    Pipe,
    Hash,
    Star,
    Equals,
    Plus,
    Ampersand,
    Minus,
    Arrow,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Semicolon,
    EndOfInput,
}

impl fmt::Display for TokenKind<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let symbol = match self {
            Self::Identifier(name) => return write!(formatter, "`{name}`"),
            Self::EndOfInput => return formatter.write_str("the end of the schema"),
            Self::Colon => ":",
            Self::Pipe => "|",
            Self::Hash => "#",
            Self::Star => "*",
            Self::Equals => "=",
            Self::Plus => "+",
            Self::Ampersand => "&",
            Self::Minus => "-",
            Self::Arrow => "->",
            Self::LeftParen => "(",
            Self::RightParen => ")",
            Self::LeftBrace => "{",
            Self::RightBrace => "}",
            Self::Semicolon => ";",
        };
        write!(formatter, "`{symbol}`")
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'src> {
    pub(super) kind: TokenKind<'src>,
    pub(super) position: Position,
}

/// Walks the text byte by byte while keeping a 1-based line and a column
/// counted in characters, so positions match what an editor shows.
struct Cursor<'src> {
    text: &'src str,
    offset: usize,
    line: u32,
    column: u32,
}

impl<'src> Cursor<'src> {
    fn peek(&self) -> Option<char> {
        self.text[self.offset..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        let mut chars = self.text[self.offset..].chars();
        chars.next();
        chars.next()
    }

    fn position(&self) -> Position {
        Position { line: self.line, column: self.column }
    }

    fn bump(&mut self) -> Option<char> {
        let character = self.peek()?;
        self.offset += character.len_utf8();
        if character == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(character)
    }
}

/// Tokenizes the whole schema, ending with [`TokenKind::EndOfInput`].
pub(super) fn tokenize(text: &str) -> Result<Vec<Token<'_>>, SchemaError> {
    let mut cursor = Cursor { text, offset: 0, line: 1, column: 1 };
    let mut tokens = Vec::new();
    loop {
        skip_trivia(&mut cursor)?;
        let position = cursor.position();
        let Some(character) = cursor.peek() else {
            tokens.push(Token { kind: TokenKind::EndOfInput, position });
            return Ok(tokens);
        };
        let kind = if character.is_ascii_alphabetic() || character == '_' {
            let start = cursor.offset;
            while cursor.peek().is_some_and(|next| next.is_ascii_alphanumeric() || next == '_') {
                cursor.bump();
            }
            TokenKind::Identifier(&text[start..cursor.offset])
        } else if character == '-' && cursor.peek_second() == Some('>') {
            cursor.bump();
            cursor.bump();
            TokenKind::Arrow
        } else {
            let kind = match character {
                ':' => TokenKind::Colon,
                '|' => TokenKind::Pipe,
                '#' => TokenKind::Hash,
                '*' => TokenKind::Star,
                '=' => TokenKind::Equals,
                '+' => TokenKind::Plus,
                '&' => TokenKind::Ampersand,
                '-' => TokenKind::Minus,
                '(' => TokenKind::LeftParen,
                ')' => TokenKind::RightParen,
                '{' => TokenKind::LeftBrace,
                '}' => TokenKind::RightBrace,
                ';' => TokenKind::Semicolon,
                other => {
                    return Err(SchemaError::new(
                        position,
                        format!("unexpected character {other:?}: names use letters, digits and `_`"),
                    ));
                }
            };
            cursor.bump();
            kind
        };
        tokens.push(Token { kind, position });
    }
}

/// Skips whitespace, `// line` comments and `/* block */` comments.
fn skip_trivia(cursor: &mut Cursor<'_>) -> Result<(), SchemaError> {
    loop {
        match (cursor.peek(), cursor.peek_second()) {
            (Some(character), _) if character.is_whitespace() => {
                cursor.bump();
            }
            (Some('/'), Some('/')) => {
                while cursor.peek().is_some_and(|next| next != '\n') {
                    cursor.bump();
                }
            }
            (Some('/'), Some('*')) => {
                let start = cursor.position();
                cursor.bump();
                cursor.bump();
                loop {
                    match (cursor.peek(), cursor.peek_second()) {
                        (Some('*'), Some('/')) => {
                            cursor.bump();
                            cursor.bump();
                            break;
                        }
                        (Some(_), _) => {
                            cursor.bump();
                        }
                        (None, _) => {
                            return Err(SchemaError::new(
                                start,
                                "comment `/*` is never closed: add `*/` where it should end".to_owned(),
                            ));
                        }
                    }
                }
            }
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let tokens = tokenize("a\n  é_b: /* x\n */ c->d // e\n").unwrap_err();
        // `é` is not an identifier character, so the lexer stops there.
        assert_eq!(tokens.position(), Position { line: 2, column: 3 });

        let tokens = tokenize("a\n  b_c: /* x\n */ c->d // e\n").unwrap();
        let summary: Vec<_> =
            tokens.iter().map(|token| (token.kind, token.position.line, token.position.column)).collect();
        assert_eq!(
            summary,
            vec![
                (TokenKind::Identifier("a"), 1, 1),
                (TokenKind::Identifier("b_c"), 2, 3),
                (TokenKind::Colon, 2, 6),
                (TokenKind::Identifier("c"), 3, 5),
                (TokenKind::Arrow, 3, 6),
                (TokenKind::Identifier("d"), 3, 8),
                (TokenKind::EndOfInput, 4, 1),
            ]
        );
    }
}
