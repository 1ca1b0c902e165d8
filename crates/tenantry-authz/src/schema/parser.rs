//! A recursive-descent parser from tokens to a syntax tree that keeps the
//! position of every name, so that validation can point at the offending one.

use super::lexer::{Token, TokenKind, tokenize};
use super::{Operator, Position, SchemaError};

/// How deeply parentheses may nest in one permission. Parsing, validation,
/// printing and evaluation all recurse over expressions, so the bound is what
/// keeps hostile schema text from overflowing the stack.
pub const MAX_EXPRESSION_NESTING: usize = 32;

/// A name and where it was written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Name<'src> {
    pub(super) text: &'src str,
    pub(super) position: Position,
}

/// `definition name { items }`.
#[derive(Debug)]
pub(super) struct DefinitionSyntax<'src> {
    pub(super) name: Name<'src>,
    pub(super) items: Vec<ItemSyntax<'src>>,
}

/// A relation or a permission inside a definition.
#[derive(Debug)]
pub(super) enum ItemSyntax<'src> {
    /// `relation name: type | type#relation`.
    Relation { name: Name<'src>, allowed: Vec<AllowedSyntax<'src>> },
    /// `permission name = expression`.
    Permission { name: Name<'src>, expression: ExpressionSyntax<'src> },
}

impl<'src> ItemSyntax<'src> {
    pub(super) fn name(&self) -> Name<'src> {
        match self {
            Self::Relation { name, .. } | Self::Permission { name, .. } => *name,
        }
    }
}

/// One alternative of a relation's subject types: `type` or `type#relation`.
#[derive(Debug)]
pub(super) struct AllowedSyntax<'src> {
    pub(super) type_name: Name<'src>,
    pub(super) relation: Option<Name<'src>>,
}

/// A permission's expression as written.
#[derive(Debug)]
pub(super) enum ExpressionSyntax<'src> {
    Nil,
    /// A relation or permission of the same object.
    Reference(Name<'src>),
    /// `tupleset->computed`.
    Arrow {
        tupleset: Name<'src>,
        computed: Name<'src>,
    },
    /// Two or more operands joined by one operator. For exclusion the first
    /// operand is the base and the others are subtracted from it.
    Operation {
        operator: Operator,
        operands: Vec<ExpressionSyntax<'src>>,
    },
}

const KEYWORDS: [&str; 4] = ["definition", "relation", "permission", "nil"];

/// Parses schema text into definitions, or the first syntax error.
pub(super) fn parse(text: &str) -> Result<Vec<DefinitionSyntax<'_>>, SchemaError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, next: 0 };
    let mut definitions = Vec::new();
    loop {
        let token = parser.peek();
        match token.kind {
            TokenKind::EndOfInput => return Ok(definitions),
            TokenKind::Identifier("definition") => {
                parser.advance();
                definitions.push(parser.definition()?);
            }
            other => {
                return Err(SchemaError::new(
                    token.position,
                    format!("expected `definition` to start a type, found {other}"),
                ));
            }
        }
    }
}

struct Parser<'src> {
    tokens: Vec<Token<'src>>,
    next: usize,
}

impl<'src> Parser<'src> {
    fn peek(&self) -> Token<'src> {
        // The lexer always ends with `EndOfInput` and `advance` never moves
        // past it, so the fallback is only there to avoid an index panic.
        self.tokens
            .get(self.next)
            .or(self.tokens.last())
            .copied()
            .unwrap_or(Token { kind: TokenKind::EndOfInput, position: Position { line: 1, column: 1 } })
    }

    fn advance(&mut self) -> Token<'src> {
        let token = self.peek();
        if token.kind != TokenKind::EndOfInput {
            self.next += 1;
        }
        token
    }

    /// Consumes the expected token or fails with "expected {what}, found …".
    fn expect(
        &mut self,
        kind: TokenKind<'static>,
        what: impl FnOnce() -> String,
    ) -> Result<Token<'src>, SchemaError> {
        let token = self.peek();
        if token.kind == kind {
            Ok(self.advance())
        } else {
            Err(SchemaError::new(token.position, format!("expected {}, found {}", what(), token.kind)))
        }
    }

    /// Consumes a name that is not a keyword, or fails with "expected {what}, found …".
    fn name(&mut self, what: impl FnOnce() -> String) -> Result<Name<'src>, SchemaError> {
        let token = self.peek();
        match token.kind {
            TokenKind::Identifier(text) if KEYWORDS.contains(&text) => Err(SchemaError::new(
                token.position,
                format!("expected {}, found the keyword `{text}`, which cannot be used as a name", what()),
            )),
            TokenKind::Identifier(text) if text.len() > crate::model::MAX_NAME_LEN => Err(SchemaError::new(
                token.position,
                format!("name `{text}` is longer than {} bytes", crate::model::MAX_NAME_LEN),
            )),
            TokenKind::Identifier(text) => {
                self.advance();
                Ok(Name { text, position: token.position })
            }
            other => Err(SchemaError::new(token.position, format!("expected {}, found {other}", what()))),
        }
    }

    fn definition(&mut self) -> Result<DefinitionSyntax<'src>, SchemaError> {
        let name = self.name(|| "a type name after `definition`".to_owned())?;
        self.expect(TokenKind::LeftBrace, || format!("`{{` after `definition {}`", name.text))?;
        let mut items = Vec::new();
        loop {
            let token = self.peek();
            match token.kind {
                TokenKind::RightBrace => {
                    self.advance();
                    return Ok(DefinitionSyntax { name, items });
                }
                TokenKind::Identifier("relation") => {
                    self.advance();
                    items.push(self.relation()?);
                }
                TokenKind::Identifier("permission") => {
                    self.advance();
                    items.push(self.permission()?);
                }
                other => {
                    return Err(SchemaError::new(
                        token.position,
                        format!(
                            "expected `relation`, `permission` or `}}` in definition `{}`, found {other}",
                            name.text
                        ),
                    ));
                }
            }
            if self.peek().kind == TokenKind::Semicolon {
                self.advance();
            }
        }
    }

    fn relation(&mut self) -> Result<ItemSyntax<'src>, SchemaError> {
        let name = self.name(|| "a relation name after `relation`".to_owned())?;
        self.expect(TokenKind::Colon, || format!("`:` after relation name `{}`", name.text))?;
        let mut allowed = Vec::new();
        loop {
            let type_name = self.name(|| format!("a subject type in relation `{}`", name.text))?;
            let relation = match self.peek().kind {
                TokenKind::Hash => {
                    self.advance();
                    Some(self.name(|| format!("a relation or permission name after `{}#`", type_name.text))?)
                }
                TokenKind::Colon => {
                    return Err(SchemaError::new(
                        type_name.position,
                        format!(
                            "wildcard subject types (`{}:*`) are not supported, in relation `{}`: grant the relation to each subject, or to a group",
                            type_name.text, name.text
                        ),
                    ));
                }
                _ => None,
            };
            allowed.push(AllowedSyntax { type_name, relation });
            if self.peek().kind == TokenKind::Pipe {
                self.advance();
            } else {
                return Ok(ItemSyntax::Relation { name, allowed });
            }
        }
    }

    fn permission(&mut self) -> Result<ItemSyntax<'src>, SchemaError> {
        let name = self.name(|| "a permission name after `permission`".to_owned())?;
        self.expect(TokenKind::Equals, || format!("`=` after permission name `{}`", name.text))?;
        let expression = self.expression(name.text, 0)?;
        let next = self.peek();
        match next.kind {
            TokenKind::RightBrace
            | TokenKind::Semicolon
            | TokenKind::EndOfInput
            | TokenKind::Identifier("relation" | "permission") => {
                Ok(ItemSyntax::Permission { name, expression })
            }
            other => Err(SchemaError::new(
                next.position,
                format!(
                    "expected an operator (`+`, `&` or `-`) or the end of permission `{}`, found {other}",
                    name.text
                ),
            )),
        }
    }

    /// `operand (op operand)*` with one operator throughout: mixing operators
    /// without parentheses is refused rather than given a precedence, because
    /// SpiceDB's (exclusion binds loosest) surprises readers and any other
    /// choice would silently change the meaning of schemas ported from it.
    fn expression(&mut self, permission: &str, depth: usize) -> Result<ExpressionSyntax<'src>, SchemaError> {
        let first = self.operand(permission, depth)?;
        let Some((operator, _)) = operator_of(self.peek()) else {
            return Ok(first);
        };
        let mut operands = vec![first];
        while let Some((next, position)) = operator_of(self.peek()) {
            if next != operator {
                return Err(SchemaError::new(
                    position,
                    format!(
                        "mixing `{}` and `{}` without parentheses is ambiguous, in permission `{permission}`: write `(a {} b) {} c` or `a {} (b {} c)`",
                        operator.symbol(),
                        next.symbol(),
                        operator.symbol(),
                        next.symbol(),
                        operator.symbol(),
                        next.symbol(),
                    ),
                ));
            }
            self.advance();
            operands.push(self.operand(permission, depth)?);
        }
        Ok(ExpressionSyntax::Operation { operator, operands })
    }

    fn operand(&mut self, permission: &str, depth: usize) -> Result<ExpressionSyntax<'src>, SchemaError> {
        let token = self.peek();
        match token.kind {
            TokenKind::Identifier("nil") => {
                self.advance();
                Ok(ExpressionSyntax::Nil)
            }
            TokenKind::LeftParen => {
                if depth >= MAX_EXPRESSION_NESTING {
                    return Err(SchemaError::new(
                        token.position,
                        format!(
                            "permission `{permission}` nests parentheses more than {MAX_EXPRESSION_NESTING} levels deep: split it into several permissions"
                        ),
                    ));
                }
                self.advance();
                let inner = self.expression(permission, depth + 1)?;
                let position = token.position;
                self.expect(TokenKind::RightParen, || {
                    format!("`)` to close the `(` at line {}, column {}", position.line, position.column)
                })?;
                Ok(inner)
            }
            TokenKind::Identifier(_) => {
                let name =
                    self.name(|| format!("a relation or permission name in permission `{permission}`"))?;
                if self.peek().kind == TokenKind::Arrow {
                    self.advance();
                    let computed =
                        self.name(|| format!("a relation or permission name after `{}->`", name.text))?;
                    Ok(ExpressionSyntax::Arrow { tupleset: name, computed })
                } else {
                    Ok(ExpressionSyntax::Reference(name))
                }
            }
            other => Err(SchemaError::new(
                token.position,
                format!(
                    "expected a relation or permission name, `nil` or `(` in permission `{permission}`, found {other}"
                ),
            )),
        }
    }
}

fn operator_of(token: Token<'_>) -> Option<(Operator, Position)> {
    let operator = match token.kind {
        TokenKind::Plus => Operator::Union,
        TokenKind::Ampersand => Operator::Intersection,
        TokenKind::Minus => Operator::Exclusion,
        _ => return None,
    };
    Some((operator, token.position))
}
