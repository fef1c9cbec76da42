//! MLflow-like search filters: `name = 'm' AND tags.team = 'nlp' AND current_stage = 'Production'`.
//!
//! Grammar (keywords are case-insensitive; clauses are joined by `AND`, as in MLflow):
//!
//! ```text
//! filter  := clause ( AND clause )*
//! clause  := key op value
//! key     := name | run_id | source | current_stage | stage | alias | status | description
//!          | version_number | version | tags.<key> | metrics.<key>
//!            (<key> is a word, or quoted with `...`, "..." or '...')
//! op      := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
//! value   := 'string' | "string" | number | ( value , ... )
//! ```
//!
//! String keys take `=`, `!=`, `LIKE`, `ILIKE` (SQL patterns: `%` any run, `_` one character),
//! `IN` and `NOT IN`; `version_number` and `metrics.<key>` take numbers and every comparison.
//! `alias = 'champion'` matches the version the alias points at; `tags.k != 'v'` matches
//! versions that have tag `k` with another value. Registered-model searches accept `name`,
//! `description` and `tags.<key>` only.

use std::fmt;
use std::str::FromStr;

use crate::error::{RegistryError, Result};
use crate::model::{ModelVersion, RegisteredModel};

/// A comparison operator of a filter clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `LIKE`
    Like,
    /// `ILIKE`
    ILike,
    /// `IN`
    In,
    /// `NOT IN`
    NotIn,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Like => "LIKE",
            Self::ILike => "ILIKE",
            Self::In => "IN",
            Self::NotIn => "NOT IN",
        }
    }
}

/// The field a clause tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The registered model's name.
    Name,
    /// The run id.
    RunId,
    /// The artifact source.
    Source,
    /// The stage.
    Stage,
    /// An alias pointing at the version.
    Alias,
    /// The registration status.
    Status,
    /// The description.
    Description,
    /// The version number.
    Version,
    /// A tag.
    Tag(String),
    /// A metric of the snapshot.
    Metric(String),
}

impl Key {
    fn is_numeric(&self) -> bool {
        matches!(self, Self::Version | Self::Metric(_))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name => f.write_str("name"),
            Self::RunId => f.write_str("run_id"),
            Self::Source => f.write_str("source"),
            Self::Stage => f.write_str("current_stage"),
            Self::Alias => f.write_str("alias"),
            Self::Status => f.write_str("status"),
            Self::Description => f.write_str("description"),
            Self::Version => f.write_str("version_number"),
            Self::Tag(k) => write!(f, "tags.`{k}`"),
            Self::Metric(k) => write!(f, "metrics.`{k}`"),
        }
    }
}

/// A literal of a filter clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string.
    Str(String),
    /// A number.
    Num(f64),
    /// A parenthesised list (for `IN`).
    List(Vec<Value>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "'{}'", s.replace('\'', "\\'")),
            Self::Num(n) => write!(f, "{n}"),
            Self::List(items) => {
                f.write_str("(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// One `key op value` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// The field.
    pub key: Key,
    /// The operator.
    pub op: Op,
    /// The literal.
    pub value: Value,
}

/// A parsed filter: clauses that must all hold. The empty filter matches everything.
///
/// ```
/// use mlops_registry::Filter;
/// let f: Filter = "name = 'm' AND tags.team = 'nlp' AND version_number >= 2".parse()?;
/// assert_eq!(f.clauses().len(), 3);
/// let err = "name == 'm'".parse::<Filter>().unwrap_err().to_string();
/// assert!(err.contains("column 6"), "{err}");
/// # Ok::<(), mlops_registry::RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    clauses: Vec<Clause>,
}

impl Filter {
    /// The filter that matches everything.
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// Add a `name = '<name>'` clause.
    pub(crate) fn push_name_eq(&mut self, name: &str) {
        self.clauses.push(Clause {
            key: Key::Name,
            op: Op::Eq,
            value: Value::Str(name.to_owned()),
        });
    }

    /// The clauses.
    #[must_use]
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// Check that the filter uses only keys a registered-model search understands (`name`,
    /// `description`, `tags.<key>`).
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] naming the first other key.
    pub fn check_for_models(&self) -> Result<()> {
        for c in &self.clauses {
            if !matches!(c.key, Key::Name | Key::Description | Key::Tag(_)) {
                return Err(RegistryError::invalid(
                    "filter",
                    format!(
                        "key `{}` cannot filter registered models (use name, description or tags.<key>)",
                        c.key
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether `v` (with its aliases filled in) matches every clause.
    #[must_use]
    pub fn matches_version(&self, v: &ModelVersion) -> bool {
        self.clauses.iter().all(|c| match &c.key {
            Key::Name => str_match(c, Some(&v.name)),
            Key::RunId => str_match(c, v.run_id.as_deref()),
            Key::Source => str_match(c, Some(&v.source)),
            Key::Stage => stage_match(c, v.stage.as_str()),
            Key::Status => str_match(c, Some(v.status.as_str())),
            Key::Description => str_match(c, Some(&v.description)),
            Key::Alias => match c.op {
                Op::Ne | Op::NotIn => v.aliases.iter().all(|a| str_match(c, Some(a.as_str()))),
                _ => v.aliases.iter().any(|a| str_match(c, Some(a.as_str()))),
            },
            Key::Tag(k) => str_match(c, v.tags.get(k).map(String::as_str)),
            #[allow(clippy::cast_precision_loss)]
            Key::Version => num_match(c, Some(v.version.get() as f64)),
            Key::Metric(k) => num_match(c, v.metrics.get(k).copied()),
        })
    }

    /// Whether `m` matches every clause (see [`Filter::check_for_models`]).
    #[must_use]
    pub fn matches_model(&self, m: &RegisteredModel) -> bool {
        self.clauses.iter().all(|c| match &c.key {
            Key::Name => str_match(c, Some(&m.name)),
            Key::Description => str_match(c, Some(&m.description)),
            Key::Tag(k) => str_match(c, m.tags.get(k).map(String::as_str)),
            _ => false,
        })
    }

    /// The exact model name the filter requires, when it has a `name = '...'` clause (lets a
    /// backend look at one model instead of all).
    #[must_use]
    pub fn exact_name(&self) -> Option<&str> {
        self.clauses
            .iter()
            .find_map(|c| match (&c.key, c.op, &c.value) {
                (Key::Name, Op::Eq, Value::Str(s)) => Some(s.as_str()),
                _ => None,
            })
    }
}

fn stage_match(c: &Clause, stage: &str) -> bool {
    // Stage names compare case-insensitively, as MLflow parses them.
    let eq = |v: &Value| matches!(v, Value::Str(s) if s.eq_ignore_ascii_case(stage));
    match (&c.op, &c.value) {
        (Op::Eq, v) => eq(v),
        (Op::Ne, v) => !eq(v),
        (Op::In, Value::List(l)) => l.iter().any(eq),
        (Op::NotIn, Value::List(l)) => !l.iter().any(eq),
        _ => str_match(c, Some(stage)),
    }
}

fn str_match(c: &Clause, field: Option<&str>) -> bool {
    let Some(field) = field else {
        return false;
    };
    let is = |v: &Value| matches!(v, Value::Str(s) if s == field);
    match (&c.op, &c.value) {
        (Op::Eq, v) => is(v),
        (Op::Ne, v) => !is(v),
        (Op::Like, Value::Str(p)) => like(p.as_bytes(), field.as_bytes()),
        (Op::ILike, Value::Str(p)) => {
            like(p.to_lowercase().as_bytes(), field.to_lowercase().as_bytes())
        }
        (Op::In, Value::List(l)) => l.iter().any(is),
        (Op::NotIn, Value::List(l)) => !l.iter().any(is),
        _ => false,
    }
}

fn num_match(c: &Clause, field: Option<f64>) -> bool {
    let Some(x) = field else {
        return false;
    };
    let is = |v: &Value| matches!(v, Value::Num(n) if *n == x);
    match (&c.op, &c.value) {
        (Op::Eq, v) => is(v),
        (Op::Ne, v) => !is(v),
        (Op::Lt, Value::Num(n)) => x < *n,
        (Op::Le, Value::Num(n)) => x <= *n,
        (Op::Gt, Value::Num(n)) => x > *n,
        (Op::Ge, Value::Num(n)) => x >= *n,
        (Op::In, Value::List(l)) => l.iter().any(is),
        (Op::NotIn, Value::List(l)) => !l.iter().any(is),
        _ => false,
    }
}

/// SQL `LIKE` on bytes: `%` matches any run, `_` one byte (iterative, with backtracking to the
/// last `%`, so it is linear for the usual patterns and never recursive).
fn like(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'_' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'%' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'%' {
        p += 1;
    }
    p == pattern.len()
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" AND ")?;
            }
            write!(f, "{} {} {}", c.key, c.op.as_str(), c.value)?;
        }
        Ok(())
    }
}

impl FromStr for Filter {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        Parser { s, pos: 0 }.filter()
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, at: usize, what: impl fmt::Display) -> RegistryError {
        let col = self.s[..at].chars().count() + 1;
        RegistryError::invalid("filter", format!("{:?} at column {col}: {what}", self.s))
    }

    fn skip_ws(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn peek_word(&self) -> &str {
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    }

    fn found(&self) -> String {
        let rest = self.rest();
        if rest.is_empty() {
            "the end of the filter".to_owned()
        } else {
            let snippet: String = rest.chars().take(12).collect();
            format!("{snippet:?}")
        }
    }

    fn filter(mut self) -> Result<Filter> {
        let mut clauses = Vec::new();
        self.skip_ws();
        if self.rest().is_empty() {
            return Ok(Filter { clauses });
        }
        loop {
            clauses.push(self.clause()?);
            self.skip_ws();
            if self.rest().is_empty() {
                return Ok(Filter { clauses });
            }
            let word = self.peek_word();
            if word.eq_ignore_ascii_case("and") {
                self.pos += 3;
                self.skip_ws();
                continue;
            }
            if word.eq_ignore_ascii_case("or") {
                return Err(self.err(self.pos, "OR is not supported; clauses are joined with AND"));
            }
            return Err(self.err(self.pos, format!("expected AND, found {}", self.found())));
        }
    }

    fn clause(&mut self) -> Result<Clause> {
        let key_at = self.pos;
        let key = self.key()?;
        self.skip_ws();
        let op_at = self.pos;
        let op = self.op()?;
        self.skip_ws();
        let value_at = self.pos;
        let value = if matches!(op, Op::In | Op::NotIn) {
            self.list()?
        } else {
            self.scalar()?
        };
        // Type checks.
        let numeric = key.is_numeric();
        let ok = match (&value, op) {
            (Value::List(items), Op::In | Op::NotIn) => {
                items.iter().all(|v| matches!(v, Value::Num(_)) == numeric)
            }
            (Value::Num(_), Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge) => numeric,
            (Value::Str(_), Op::Eq | Op::Ne | Op::Like | Op::ILike) => !numeric,
            _ => false,
        };
        if !ok {
            let _ = key_at;
            let at = if matches!(
                (numeric, op),
                (true, Op::Like | Op::ILike) | (false, Op::Lt | Op::Le | Op::Gt | Op::Ge)
            ) {
                op_at
            } else {
                value_at
            };
            let expect = if numeric {
                "a number compared with =, !=, <, <=, >, >=, IN or NOT IN"
            } else {
                "a quoted string compared with =, !=, LIKE, ILIKE, IN or NOT IN"
            };
            return Err(self.err(at, format!("`{key}` takes {expect}")));
        }
        Ok(Clause { key, op, value })
    }

    fn key(&mut self) -> Result<Key> {
        let at = self.pos;
        let word = self.peek_word().to_owned();
        if word.is_empty() {
            return Err(self.err(at, format!("expected a key, found {}", self.found())));
        }
        self.pos += word.len();
        let lower = word.to_ascii_lowercase();
        if self.rest().starts_with('.') {
            self.pos += 1;
            let sub = self.sub_key()?;
            return match lower.as_str() {
                "tags" | "tag" => Ok(Key::Tag(sub)),
                "metrics" | "metric" => Ok(Key::Metric(sub)),
                _ => Err(self.err(
                    at,
                    format!("unknown key prefix `{word}.` (use tags. or metrics.)"),
                )),
            };
        }
        Ok(match lower.as_str() {
            "name" => Key::Name,
            "run_id" => Key::RunId,
            "source" => Key::Source,
            "current_stage" | "stage" => Key::Stage,
            "alias" | "aliases" => Key::Alias,
            "status" => Key::Status,
            "description" => Key::Description,
            "version_number" | "version" => Key::Version,
            _ => {
                return Err(self.err(
                    at,
                    format!(
                        "unknown key `{word}` (expected name, run_id, source, current_stage, alias, status, description, version_number, tags.<key> or metrics.<key>)"
                    ),
                ));
            }
        })
    }

    fn sub_key(&mut self) -> Result<String> {
        let at = self.pos;
        if let Some(q) = self
            .rest()
            .chars()
            .next()
            .filter(|c| matches!(c, '`' | '"' | '\''))
        {
            return self.quoted(q);
        }
        let word = self.peek_word().to_owned();
        if word.is_empty() {
            return Err(self.err(
                at,
                format!("expected a tag or metric key, found {}", self.found()),
            ));
        }
        self.pos += word.len();
        Ok(word)
    }

    fn quoted(&mut self, q: char) -> Result<String> {
        let at = self.pos;
        self.pos += q.len_utf8();
        let mut out = String::new();
        let mut chars = self.s[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                    continue;
                }
                break;
            }
            if c == q {
                self.pos += i + c.len_utf8();
                return Ok(out);
            }
            out.push(c);
        }
        Err(self.err(at, format!("unterminated {q}-quoted string")))
    }

    fn op(&mut self) -> Result<Op> {
        let rest = self.rest();
        for (tok, op) in [
            ("!=", Op::Ne),
            ("<>", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if rest.starts_with(tok) {
                self.pos += tok.len();
                return Ok(op);
            }
        }
        if rest.starts_with('=') {
            if rest.starts_with("==") {
                return Err(self.err(self.pos, "`==` is not an operator; use `=`"));
            }
            self.pos += 1;
            return Ok(Op::Eq);
        }
        let at = self.pos;
        let word = self.peek_word().to_ascii_uppercase();
        let op = match word.as_str() {
            "LIKE" => Op::Like,
            "ILIKE" => Op::ILike,
            "IN" => Op::In,
            "NOT" => {
                self.pos += 3;
                self.skip_ws();
                if self.peek_word().eq_ignore_ascii_case("in") {
                    self.pos += 2;
                    return Ok(Op::NotIn);
                }
                return Err(self.err(
                    self.pos,
                    format!("expected IN after NOT, found {}", self.found()),
                ));
            }
            _ => {
                return Err(self.err(
                    at,
                    format!(
                        "expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN), found {}",
                        self.found()
                    ),
                ));
            }
        };
        self.pos += word.len();
        Ok(op)
    }

    fn scalar(&mut self) -> Result<Value> {
        let at = self.pos;
        match self.rest().chars().next() {
            Some(q @ ('\'' | '"')) => Ok(Value::Str(self.quoted(q)?)),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '.' || c == '+' => {
                let rest = self.rest();
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')))
                    .unwrap_or(rest.len());
                let text = &rest[..end];
                let n: f64 = text
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| self.err(at, format!("{text:?} is not a number")))?;
                self.pos += end;
                Ok(Value::Num(n))
            }
            _ => Err(self.err(
                at,
                format!(
                    "expected a quoted string or a number, found {}",
                    self.found()
                ),
            )),
        }
    }

    fn list(&mut self) -> Result<Value> {
        if !self.rest().starts_with('(') {
            return Err(self.err(
                self.pos,
                format!("expected `(` to open a list, found {}", self.found()),
            ));
        }
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            items.push(self.scalar()?);
            self.skip_ws();
            if self.rest().starts_with(',') {
                self.pos += 1;
                continue;
            }
            if self.rest().starts_with(')') {
                self.pos += 1;
                return Ok(Value::List(items));
            }
            return Err(self.err(
                self.pos,
                format!("expected `,` or `)`, found {}", self.found()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn like_patterns() {
        assert!(like(b"text%", b"text-classifier"));
        assert!(like(b"%class%", b"text-classifier"));
        assert!(like(b"t_xt%", b"text"));
        assert!(!like(b"t_xt", b"texts"));
        assert!(like(b"%", b""));
        assert!(!like(b"a%b", b"acbd"));
        assert!(like(b"a%b%c", b"axxbyyc"));
    }

    #[test]
    fn parses_and_prints() {
        let f: Filter = "name='m' and TAGS.`my key` != \"x\" AND version_number IN (1, 2) AND current_stage NOT IN ('Archived') AND metrics.acc >= 0.9"
            .parse()
            .unwrap();
        assert_eq!(f.clauses().len(), 5);
        assert_eq!(f.clauses()[1].key, Key::Tag("my key".into()));
        assert_eq!(f.clauses()[3].op, Op::NotIn);
        let again: Filter = f.to_string().parse().unwrap();
        assert_eq!(again, f);
        assert_eq!(f.exact_name(), Some("m"));
        assert!("".parse::<Filter>().unwrap().clauses().is_empty());
    }

    #[test]
    fn parse_errors_name_the_column_and_the_problem() {
        for (s, needle) in [
            ("name == 'm'", "column 6: `==`"),
            ("nam = 'm'", "unknown key `nam`"),
            ("name = m", "expected a quoted string or a number"),
            ("name = 'm", "unterminated"),
            ("name = 'm' OR run_id = 'r'", "OR is not supported"),
            ("name = 'm' run_id = 'r'", "expected AND"),
            ("version_number = '3'", "takes a number"),
            ("name > 'a'", "takes a quoted string"),
            ("metrics.acc LIKE 'x'", "takes a number"),
            ("name IN 'a'", "expected `(`"),
            ("name IN ('a' 'b')", "expected `,` or `)`"),
            ("params.x = 'a'", "unknown key prefix"),
            ("name NOT 'a'", "expected IN after NOT"),
            ("name = 'a' AND", "expected a key"),
            ("version_number = 1e999", "is not a number"),
        ] {
            let err = s.parse::<Filter>().unwrap_err().to_string();
            assert!(err.contains(needle), "{s}: {err}");
            assert!(err.starts_with("invalid filter"), "{s}: {err}");
        }
        assert!(
            Filter::from_str("run_id = 'r'")
                .unwrap()
                .check_for_models()
                .is_err()
        );
        Filter::from_str("name LIKE 'a%' AND tags.t = 'x'")
            .unwrap()
            .check_for_models()
            .unwrap();
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,60}") {
            let _ = s.parse::<Filter>();
        }

        #[test]
        fn like_agrees_with_a_regex(p in "[ab%_]{0,6}", t in "[ab]{0,8}") {
            let re = format!(
                "^{}$",
                p.chars()
                    .map(|c| match c {
                        '%' => ".*".to_owned(),
                        '_' => ".".to_owned(),
                        c => c.to_string(),
                    })
                    .collect::<String>()
            );
            let expected = regex_lite_match(&re, &t);
            prop_assert_eq!(like(p.as_bytes(), t.as_bytes()), expected);
        }
    }

    /// A tiny backtracking matcher for `^...$` patterns made of literals, `.` and `.*`.
    fn regex_lite_match(re: &str, t: &str) -> bool {
        fn go(p: &[u8], t: &[u8]) -> bool {
            if p.is_empty() {
                return t.is_empty();
            }
            if p.len() >= 2 && p[0] == b'.' && p[1] == b'*' {
                return (0..=t.len()).any(|i| go(&p[2..], &t[i..]));
            }
            !t.is_empty() && (p[0] == b'.' || p[0] == t[0]) && go(&p[1..], &t[1..])
        }
        go(&re.as_bytes()[1..re.len() - 1], t.as_bytes())
    }
}
