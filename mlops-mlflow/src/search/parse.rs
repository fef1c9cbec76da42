//! The parser: tokens to [`Clause`]s and [`OrderBy`]s, checked against a [`Dialect`].

use crate::search::lex::{Tok, Token, lex};
use crate::search::{
    Clause, Comparator, Dialect, Entity, Ident, Kind, OrderBy, SearchError, Value,
};

const ORDER_BY: &str = "order_by clause";

struct Parser<'a> {
    src: &'a str,
    what: &'static str,
    dialect: &'a Dialect,
    toks: Vec<Token>,
    pos: usize,
    /// Token index where the current clause starts.
    clause_start: usize,
}

fn describe(tok: Option<&Tok>, what: &str) -> String {
    match tok {
        None => format!("the end of the {what}"),
        Some(Tok::Word(w)) => format!("{w:?}"),
        Some(Tok::Quoted(s, q)) => format!("{q}{s}{q}"),
        Some(Tok::Num(n)) => format!("the number {n}"),
        Some(Tok::Op(o)) => format!("`{o}`"),
        Some(Tok::LParen) => "`(`".to_owned(),
        Some(Tok::RParen) => "`)`".to_owned(),
        Some(Tok::Comma) => "`,`".to_owned(),
        Some(Tok::Dot) => "`.`".to_owned(),
    }
}

fn lex_or_error(src: &str, what: &'static str) -> Result<Vec<Token>, SearchError> {
    lex(src).map_err(|(byte, message)| SearchError {
        what,
        clause: src.to_owned(),
        clause_start: 0,
        position: src[..byte].chars().count(),
        message,
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn offset(&self, index: usize) -> usize {
        self.toks.get(index).map_or(self.src.len(), |t| t.start)
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn error_at(&self, byte: usize, message: String) -> SearchError {
        // The clause: from its first token to the next `AND` (or the end).
        let start = self.offset(self.clause_start);
        let end = self.toks[self.clause_start.min(self.toks.len())..]
            .iter()
            .skip(1)
            .find(|t| matches!(&t.tok, Tok::Word(w) if w.eq_ignore_ascii_case("and")))
            .map_or(self.src.len(), |t| t.start);
        let clause = self.src[start.min(end)..end].trim_end();
        let (clause, start) = if clause.is_empty() {
            (self.src, 0)
        } else {
            (clause, start)
        };
        SearchError {
            what: self.what,
            clause: clause.to_owned(),
            clause_start: self.src[..start].chars().count(),
            position: self.src[..byte].chars().count(),
            message,
        }
    }

    fn fail<T>(&self, expected: &str) -> Result<T, SearchError> {
        Err(self.error_at(
            self.offset(self.pos),
            format!(
                "expected {expected}, found {}",
                describe(self.peek(), self.what)
            ),
        ))
    }

    fn expected_key(&self) -> String {
        format!("a key (an identifier such as {})", self.dialect.expected)
    }

    /// The key after `<entity>.`: a word, quoted text or a number-like word.
    fn key_after_dot(&mut self) -> Result<(String, usize), SearchError> {
        let at = self.offset(self.pos);
        let key = match self.peek() {
            Some(Tok::Word(w) | Tok::Quoted(w, _) | Tok::Num(w)) => w.clone(),
            _ => {
                return self.fail("a key after the `.` (quote it with backticks if it has spaces)");
            }
        };
        self.pos += 1;
        Ok((key, at))
    }

    fn attribute(
        &self,
        key: &str,
        at: usize,
    ) -> Result<(Ident, Kind, &'static [Comparator]), SearchError> {
        match self.dialect.attribute(key) {
            Some(a) => Ok((
                Ident {
                    entity: Entity::Attribute,
                    key: a.key.to_owned(),
                },
                a.kind,
                a.comparators,
            )),
            None => Err(self.error_at(
                at,
                format!(
                    "unknown key `{key}`: expected an attribute name ({}){}",
                    self.dialect.attribute_names(),
                    if self.dialect.bare_keys {
                        String::new()
                    } else {
                        format!(" or {}", self.dialect.expected)
                    }
                ),
            )),
        }
    }

    fn prefixed(
        &self,
        prefix: &str,
        prefix_at: usize,
        key: String,
        key_at: usize,
    ) -> Result<(Ident, Kind, &'static [Comparator]), SearchError> {
        if key.is_empty() {
            return Err(self.error_at(key_at, "expected a non-empty key".to_owned()));
        }
        if self.dialect.is_attribute_prefix(prefix) {
            return self.attribute(&key, key_at);
        }
        match self.dialect.entity(prefix) {
            Some(rule) => Ok((
                Ident {
                    entity: rule.entity,
                    key,
                },
                rule.kind,
                rule.comparators,
            )),
            None => Err(self.error_at(
                prefix_at,
                format!(
                    "unknown key prefix `{prefix}.`: expected an identifier such as {}",
                    self.dialect.expected
                ),
            )),
        }
    }

    /// `<entity>.<key>` or a bare attribute key.
    fn ident(&mut self) -> Result<(Ident, Kind, &'static [Comparator]), SearchError> {
        let at = self.offset(self.pos);
        match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                if let Some(dot) = w.find('.') {
                    let (prefix, rest) = (&w[..dot], &w[dot + 1..]);
                    let (key, key_at) = if rest.is_empty() {
                        self.key_after_dot()?
                    } else {
                        (rest.to_owned(), at + dot + 1)
                    };
                    self.prefixed(prefix, at, key, key_at)
                } else {
                    self.bare(&w, at)
                }
            }
            Some(Tok::Quoted(q, quote @ ('`' | '"'))) => {
                self.pos += 1;
                // As in MLflow, only backticks quote an entity type in a filter
                // (`` `metric`.a ``); an `order_by` clause also takes double quotes (MLflow
                // reads it with a shell-style splitter).
                let entity_quote = quote == '`' || self.what == ORDER_BY;
                if entity_quote && self.peek() == Some(&Tok::Dot) {
                    self.pos += 1;
                    let (key, key_at) = self.key_after_dot()?;
                    self.prefixed(&q, at, key, key_at)
                } else {
                    self.bare(&q, at)
                }
            }
            _ => self.fail(&self.expected_key()),
        }
    }

    fn bare(
        &mut self,
        key: &str,
        at: usize,
    ) -> Result<(Ident, Kind, &'static [Comparator]), SearchError> {
        if !self.dialect.bare_keys {
            self.pos -= 1;
            return self.fail(&self.expected_key());
        }
        self.attribute(key, at)
    }

    fn comparator(&mut self) -> Result<Comparator, SearchError> {
        let op = match self.peek() {
            Some(Tok::Op(o)) => match *o {
                "=" => Comparator::Eq,
                "!=" => Comparator::Ne,
                "<" => Comparator::Lt,
                "<=" => Comparator::Le,
                ">" => Comparator::Gt,
                _ => Comparator::Ge,
            },
            _ if self.keyword("like") => Comparator::Like,
            _ if self.keyword("ilike") => Comparator::ILike,
            _ if self.keyword("in") => Comparator::In,
            _ if self.keyword("not") => {
                self.pos += 1;
                if !self.keyword("in") {
                    return self.fail("IN after NOT");
                }
                Comparator::NotIn
            }
            _ if self.keyword("is") => {
                self.pos += 1;
                let op = if self.keyword("not") {
                    self.pos += 1;
                    Comparator::IsNotNull
                } else {
                    Comparator::IsNull
                };
                if !self.keyword("null") {
                    return self.fail("NULL or NOT NULL after IS");
                }
                op
            }
            _ => {
                return self.fail(
                    "a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL)",
                );
            }
        };
        self.pos += 1;
        Ok(op)
    }

    fn scalar(&mut self) -> Result<Value, SearchError> {
        let at = self.offset(self.pos);
        let v = match self.peek() {
            Some(Tok::Quoted(s, '\'' | '"')) => Value::Str(s.clone()),
            Some(Tok::Num(text)) => match text.parse::<f64>() {
                Ok(n) if n.is_finite() => Value::Num(n),
                _ => return Err(self.error_at(at, format!("{text:?} is not a number"))),
            },
            _ => return self.fail("a quoted string or a number"),
        };
        self.pos += 1;
        Ok(v)
    }

    fn value(&mut self, op: Comparator) -> Result<Value, SearchError> {
        match op {
            Comparator::IsNull | Comparator::IsNotNull => Ok(Value::Null),
            Comparator::In | Comparator::NotIn => {
                if self.peek() != Some(&Tok::LParen) {
                    return self.fail("`(` to open the IN list");
                }
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    items.push(self.scalar()?);
                    match self.peek() {
                        Some(Tok::Comma) => self.pos += 1,
                        Some(Tok::RParen) => {
                            self.pos += 1;
                            return Ok(Value::List(items));
                        }
                        _ => return self.fail("`,` or `)` in the IN list"),
                    }
                }
            }
            _ => self.scalar(),
        }
    }

    fn label(ident: &Ident) -> String {
        match ident.entity {
            Entity::Attribute => ident.key.clone(),
            Entity::Metric => format!("metrics.{}", ident.key),
            Entity::Param => format!("params.{}", ident.key),
            Entity::Tag => format!("tags.{}", ident.key),
        }
    }

    fn clause(&mut self) -> Result<Clause, SearchError> {
        self.clause_start = self.pos;
        let (ident, kind, allowed) = self.ident()?;
        let op_at = self.offset(self.pos);
        let op = self.comparator()?;
        let (takes, ops) = match kind {
            Kind::Number => ("a number", "a numeric"),
            Kind::String => ("a quoted string", "a string"),
        };
        if !allowed.contains(&op) {
            let list: Vec<&str> = allowed.iter().map(|c| c.as_str()).collect();
            return Err(self.error_at(
                op_at,
                format!(
                    "`{}` takes {takes} and {ops} comparison operator ({}), found {op}",
                    Self::label(&ident),
                    list.join(", ")
                ),
            ));
        }
        let value_at = self.offset(self.pos);
        let value = self.value(op)?;
        let kind_ok = |v: &Value| match v {
            Value::Num(_) => kind == Kind::Number,
            Value::Str(_) => kind == Kind::String,
            Value::List(_) | Value::Null => false,
        };
        let ok = match &value {
            Value::Null => true,
            Value::List(items) => items.iter().all(kind_ok),
            v => kind_ok(v),
        };
        if !ok {
            return Err(self.error_at(
                value_at,
                format!("`{}` takes {takes}, found {value}", Self::label(&ident)),
            ));
        }
        Ok(Clause { ident, op, value })
    }
}

/// Parse a filter into clauses.
pub(crate) fn parse_filter(src: &str, dialect: &Dialect) -> Result<Vec<Clause>, SearchError> {
    let toks = lex_or_error(src, "filter")?;
    let mut p = Parser {
        src,
        what: "filter",
        dialect,
        toks,
        pos: 0,
        clause_start: 0,
    };
    let mut clauses = Vec::new();
    if p.peek().is_none() {
        return Ok(clauses);
    }
    loop {
        clauses.push(p.clause()?);
        if p.peek().is_none() {
            return Ok(clauses);
        }
        if p.keyword("and") {
            p.pos += 1;
        } else if p.keyword("or") {
            return Err(p.error_at(
                p.offset(p.pos),
                "OR is not supported; clauses are joined with AND".to_owned(),
            ));
        } else {
            return p.fail("AND or the end of the filter");
        }
    }
}

/// Parse `order_by` clauses (`<identifier> [ASC|DESC]`, the direction in any case) with the keys
/// `dialect` allows (its comparators do not matter here). As in MLflow, a clause with leading or
/// trailing blanks is refused. With `unique`, a key ordered by twice (through an alias too) is
/// refused, as MLflow's SQL registry store does.
///
/// # Errors
/// [`SearchError`] (`what` = `"order_by clause"`) naming the clause and the position in it.
pub fn parse_order_by<S: AsRef<str>>(
    clauses: &[S],
    dialect: &Dialect,
    unique: bool,
) -> Result<Vec<OrderBy>, SearchError> {
    const WHAT: &str = ORDER_BY;
    let mut out: Vec<OrderBy> = Vec::with_capacity(clauses.len());
    for src in clauses {
        let src = src.as_ref();
        let err = |position: usize, message: &str| SearchError {
            what: WHAT,
            clause: src.to_owned(),
            clause_start: 0,
            position,
            message: message.to_owned(),
        };
        if src.trim().is_empty() {
            return Err(err(0, "empty clause"));
        }
        if src.trim_start().len() != src.len() {
            return Err(err(0, "unexpected blank at the start of the clause"));
        }
        if src.trim_end().len() != src.len() {
            return Err(err(
                src.trim_end().chars().count(),
                "unexpected blank at the end of the clause",
            ));
        }
        let toks = lex_or_error(src, WHAT)?;
        let mut p = Parser {
            src,
            what: WHAT,
            dialect,
            toks,
            pos: 0,
            clause_start: 0,
        };
        let (ident, _, _) = p.ident()?;
        let ascending = if p.keyword("asc") {
            p.pos += 1;
            true
        } else if p.keyword("desc") {
            p.pos += 1;
            false
        } else {
            true
        };
        if p.peek().is_some() {
            return p.fail("ASC, DESC or the end of the clause");
        }
        if unique && out.iter().any(|o| o.ident == ident) {
            return Err(err(
                0,
                &format!("`{}` is ordered by twice", Parser::label(&ident)),
            ));
        }
        out.push(OrderBy { ident, ascending });
    }
    Ok(out)
}
