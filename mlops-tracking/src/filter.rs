//! MLflow's run-search filter and order-by syntax: parsing and evaluation.
//!
//! A filter is clauses joined by `AND` (case-insensitive), each `<entity>.<key> <op> <value>`:
//!
//! | entity | prefixes | operators | values |
//! | --- | --- | --- | --- |
//! | metric | `metrics.`, `metric.` | `=`, `!=`, `<`, `<=`, `>`, `>=` | numbers |
//! | param | `params.`, `param.`, `parameters.`, `parameter.` | `=`, `!=`, `LIKE`, `ILIKE`, `IN`, `NOT IN` | strings |
//! | tag | `tags.`, `tag.` | as params | strings |
//! | attribute | `attributes.`, `attribute.`, `attr.`, `run.` | strings: as params; `start_time`, `end_time`: as metrics | |
//!
//! String attributes are `status`, `run_name`, `run_id`, `user_id`, `artifact_uri` and
//! `lifecycle_stage`; numeric ones `start_time` (alias `created`) and `end_time`. Keys with
//! other characters are quoted with backticks or double quotes (``metrics.`val loss` ``); string
//! values with single or double quotes; `IN` takes a parenthesised list. `LIKE` patterns use
//! `%` (any run of characters) and `_` (one character); `ILIKE` ignores case.
//!
//! As in MLflow, a run lacking the compared metric, param or tag never matches (not even `!=`).
//! Comparisons with NaN follow IEEE 754: only `!=` holds.
//!
//! Errors name the character position (0-based) and what was expected there:
//!
//! ```
//! use mlops_tracking::filter::Filter;
//!
//! let f = Filter::parse("metrics.acc > 0.9 and params.optimizer = 'Adam'")?;
//! assert_eq!(f.clauses().len(), 2);
//! let err = Filter::parse("metrics.acc >> 0.9").unwrap_err();
//! assert!(err.to_string().contains("position 13"), "{err}");
//! # Ok::<(), mlops_tracking::TrackingError>(())
//! ```

use std::cmp::Ordering;

use crate::error::{Result, TrackingError};

/// What a clause or order key refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The latest value of a metric.
    Metric(String),
    /// A param.
    Param(String),
    /// A tag.
    Tag(String),
    /// A string attribute of the run.
    Attr(StrAttr),
    /// A numeric attribute of the run.
    NumAttr(NumAttr),
}

/// String attributes of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrAttr {
    /// `status`.
    Status,
    /// `run_name`.
    RunName,
    /// `run_id`.
    RunId,
    /// `user_id`.
    UserId,
    /// `artifact_uri`.
    ArtifactUri,
    /// `lifecycle_stage`.
    LifecycleStage,
}

/// Numeric attributes of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumAttr {
    /// `start_time` (alias `created`).
    StartTime,
    /// `end_time`.
    EndTime,
}

/// A comparison operator.
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

/// The right-hand side of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number (metrics and numeric attributes).
    Num(f64),
    /// A string.
    Str(String),
    /// A list of strings (`IN`, `NOT IN`).
    List(Vec<String>),
}

/// One `<field> <op> <value>` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// The left-hand side.
    pub field: Field,
    /// The operator.
    pub op: Op,
    /// The right-hand side.
    pub value: Value,
}

/// A parsed filter: a conjunction of clauses (empty matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    clauses: Vec<Clause>,
}

/// One parsed order-by clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// The key to order by.
    pub field: Field,
    /// Ascending (the default) or descending.
    pub ascending: bool,
}

/// What a filter is evaluated against: the fields of one run.
pub trait RunFields {
    /// The latest value of a metric.
    fn metric(&self, key: &str) -> Option<f64>;
    /// A param.
    fn param(&self, key: &str) -> Option<&str>;
    /// A tag.
    fn tag(&self, key: &str) -> Option<&str>;
    /// A string attribute.
    fn str_attr(&self, attr: StrAttr) -> Option<&str>;
    /// A numeric attribute.
    fn num_attr(&self, attr: NumAttr) -> Option<i64>;
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String, char),
    Num(f64),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Dot,
}

struct Lexer<'a> {
    src: &'a str,
    what: &'static str,
    toks: Vec<(Tok, usize)>,
}

fn error(what: &'static str, src: &str, byte: usize, message: String) -> TrackingError {
    let position = src[..byte.min(src.len())].chars().count();
    TrackingError::InvalidFilter {
        what,
        position,
        message,
    }
}

impl<'a> Lexer<'a> {
    fn lex(src: &'a str, what: &'static str) -> Result<Vec<(Tok, usize)>> {
        let mut lx = Lexer {
            src,
            what,
            toks: Vec::new(),
        };
        lx.run()?;
        Ok(lx.toks)
    }

    fn run(&mut self) -> Result<()> {
        let bytes = self.src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let start = i;
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => i += 1,
                b'(' => {
                    self.toks.push((Tok::LParen, start));
                    i += 1;
                }
                b')' => {
                    self.toks.push((Tok::RParen, start));
                    i += 1;
                }
                b',' => {
                    self.toks.push((Tok::Comma, start));
                    i += 1;
                }
                b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                    self.toks.push((Tok::Dot, start));
                    i += 1;
                }
                b'=' => {
                    self.toks.push((Tok::Op("="), start));
                    i += 1;
                }
                b'!' | b'<' | b'>' => {
                    let two = bytes.get(i + 1) == Some(&b'=');
                    let op = match (c, two) {
                        (b'!', true) => "!=",
                        (b'<', true) => "<=",
                        (b'>', true) => ">=",
                        (b'<', false) => "<",
                        (b'>', false) => ">",
                        _ => {
                            return Err(error(
                                self.what,
                                self.src,
                                start,
                                "expected '!=' after '!'".to_owned(),
                            ));
                        }
                    };
                    self.toks.push((Tok::Op(op), start));
                    i += if two { 2 } else { 1 };
                }
                b'\'' | b'"' | b'`' => {
                    let quote = c;
                    let mut out = String::new();
                    let mut j = i + 1;
                    loop {
                        let Some(ch) = self.src[j..].chars().next() else {
                            return Err(error(
                                self.what,
                                self.src,
                                start,
                                format!(
                                    "unterminated quoted text; expected a closing {}",
                                    quote as char
                                ),
                            ));
                        };
                        j += ch.len_utf8();
                        if ch == quote as char {
                            // A doubled quote stands for the quote itself (SQL style).
                            if bytes.get(j) == Some(&quote) {
                                out.push(ch);
                                j += 1;
                                continue;
                            }
                            break;
                        }
                        out.push(ch);
                    }
                    self.toks.push((Tok::Quoted(out, quote as char), start));
                    i = j;
                }
                b'0'..=b'9' | b'-' | b'+' | b'.' => {
                    let mut j = i + 1;
                    while j < bytes.len()
                        && (bytes[j].is_ascii_alphanumeric()
                            || bytes[j] == b'.'
                            || ((bytes[j] == b'-' || bytes[j] == b'+')
                                && matches!(bytes[j - 1], b'e' | b'E')))
                    {
                        j += 1;
                    }
                    let text = &self.src[i..j];
                    let v: f64 = text.parse().map_err(|_| {
                        error(
                            self.what,
                            self.src,
                            start,
                            format!("{text:?} is not a number"),
                        )
                    })?;
                    self.toks.push((Tok::Num(v), start));
                    i = j;
                }
                _ => {
                    let ch = self.src[i..].chars().next().unwrap_or('?');
                    if ch.is_alphanumeric() || ch == '_' {
                        let mut j = i;
                        for c2 in self.src[i..].chars() {
                            if c2.is_alphanumeric() || matches!(c2, '_' | '-' | ':' | '/') {
                                j += c2.len_utf8();
                            } else {
                                break;
                            }
                        }
                        self.toks
                            .push((Tok::Word(self.src[i..j].to_owned()), start));
                        i = j;
                    } else {
                        return Err(error(
                            self.what,
                            self.src,
                            start,
                            format!("unexpected character {ch:?}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

struct Parser<'a> {
    src: &'a str,
    what: &'static str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

fn describe(tok: Option<&Tok>) -> String {
    match tok {
        None => "the end of the input".to_owned(),
        Some(Tok::Word(w)) => format!("{w:?}"),
        Some(Tok::Quoted(s, q)) => format!("{q}{s}{q}"),
        Some(Tok::Num(n)) => format!("the number {n}"),
        Some(Tok::Op(o)) => format!("'{o}'"),
        Some(Tok::LParen) => "'('".to_owned(),
        Some(Tok::RParen) => "')'".to_owned(),
        Some(Tok::Comma) => "','".to_owned(),
        Some(Tok::Dot) => "'.'".to_owned(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |(_, o)| *o)
    }
    fn fail<T>(&self, expected: &str) -> Result<T> {
        Err(error(
            self.what,
            self.src,
            self.offset(),
            format!("expected {expected}, found {}", describe(self.peek())),
        ))
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    /// `<entity>.<key>`.
    fn field(&mut self) -> Result<Field> {
        const EXPECTED: &str =
            "an identifier such as metrics.<key>, params.<key>, tags.<key> or attributes.<name>";
        let Some(Tok::Word(entity)) = self.peek().cloned() else {
            return self.fail(EXPECTED);
        };
        let entity_at = self.pos;
        let kind = match entity.to_ascii_lowercase().as_str() {
            "metric" | "metrics" => 0,
            "param" | "params" | "parameter" | "parameters" => 1,
            "tag" | "tags" => 2,
            "attribute" | "attributes" | "attr" | "run" => 3,
            _ => return self.fail(EXPECTED),
        };
        self.pos += 1;
        if self.peek() != Some(&Tok::Dot) {
            return self.fail("'.' after the entity type");
        }
        self.pos += 1;
        let key_at = self.pos;
        let key = match self.next() {
            Some(Tok::Quoted(k, '`' | '"')) => k,
            Some(Tok::Word(first)) => {
                // Bare keys may contain dots: `tags.mlflow.runName`.
                let mut key = first;
                while self.peek() == Some(&Tok::Dot)
                    && matches!(self.toks.get(self.pos + 1), Some((Tok::Word(_), _)))
                {
                    // Only glue tokens that touch (no whitespace in between).
                    let dot_off = self.toks[self.pos].1;
                    let prev_end =
                        self.toks[self.pos - 1].1 + token_len(&self.toks[self.pos - 1].0);
                    if dot_off != prev_end || self.toks[self.pos + 1].1 != dot_off + 1 {
                        break;
                    }
                    let Some((Tok::Word(w), _)) = self.toks.get(self.pos + 1).cloned() else {
                        break;
                    };
                    key.push('.');
                    key.push_str(&w);
                    self.pos += 2;
                }
                key
            }
            Some(Tok::Num(_)) => {
                // `metrics.1e` style keys: take the raw text of the token.
                let (_, off) = self.toks[key_at];
                let end = self
                    .toks
                    .get(key_at + 1)
                    .map_or(self.src.len(), |(_, o)| *o);
                self.src[off..end].trim_end().to_owned()
            }
            _ => {
                self.pos = key_at;
                return self.fail("a key after the '.' (quote it with backticks if it has spaces)");
            }
        };
        if key.is_empty() {
            self.pos = key_at;
            return self.fail("a non-empty key");
        }
        Ok(match kind {
            0 => Field::Metric(key),
            1 => Field::Param(key),
            2 => Field::Tag(key),
            _ => match key.to_ascii_lowercase().as_str() {
                "status" => Field::Attr(StrAttr::Status),
                "run_name" => Field::Attr(StrAttr::RunName),
                "run_id" => Field::Attr(StrAttr::RunId),
                "user_id" => Field::Attr(StrAttr::UserId),
                "artifact_uri" => Field::Attr(StrAttr::ArtifactUri),
                "lifecycle_stage" => Field::Attr(StrAttr::LifecycleStage),
                "start_time" | "created" => Field::NumAttr(NumAttr::StartTime),
                "end_time" => Field::NumAttr(NumAttr::EndTime),
                _ => {
                    self.pos = key_at;
                    let _ = entity_at;
                    return self.fail(
                        "an attribute name (status, run_name, run_id, user_id, artifact_uri, \
                         lifecycle_stage, start_time, end_time)",
                    );
                }
            },
        })
    }

    fn op(&mut self, numeric: bool) -> Result<Op> {
        let op = match self.peek() {
            Some(Tok::Op(o)) => match *o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("like") => Op::Like,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("ilike") => Op::ILike,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") => {
                if !matches!(self.toks.get(self.pos + 1), Some((Tok::Word(w2), _)) if w2.eq_ignore_ascii_case("in"))
                {
                    self.pos += 1;
                    return self.fail("IN after NOT");
                }
                self.pos += 1;
                Op::NotIn
            }
            _ => {
                return self.fail(if numeric {
                    "a comparison operator (=, !=, <, <=, >, >=)"
                } else {
                    "a comparison operator (=, !=, LIKE, ILIKE, IN, NOT IN)"
                });
            }
        };
        let allowed = if numeric {
            matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge)
        } else {
            matches!(
                op,
                Op::Eq | Op::Ne | Op::Like | Op::ILike | Op::In | Op::NotIn
            )
        };
        if !allowed {
            return self.fail(if numeric {
                "a numeric comparison operator (=, !=, <, <=, >, >=)"
            } else {
                "a string comparison operator (=, !=, LIKE, ILIKE, IN, NOT IN)"
            });
        }
        self.pos += 1;
        Ok(op)
    }

    fn value(&mut self, numeric: bool, op: Op) -> Result<Value> {
        if matches!(op, Op::In | Op::NotIn) {
            if self.peek() != Some(&Tok::LParen) {
                return self.fail("'(' to open the IN list");
            }
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                match self.peek() {
                    Some(Tok::Quoted(s, '\'' | '"')) => {
                        items.push(s.clone());
                        self.pos += 1;
                    }
                    _ => return self.fail("a quoted string in the IN list"),
                }
                match self.peek() {
                    Some(Tok::Comma) => self.pos += 1,
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.fail("',' or ')' in the IN list"),
                }
            }
            return Ok(Value::List(items));
        }
        if numeric {
            match self.peek() {
                Some(Tok::Num(n)) => {
                    let n = *n;
                    self.pos += 1;
                    Ok(Value::Num(n))
                }
                Some(Tok::Word(w))
                    if ["nan", "inf", "infinity"].contains(&w.to_ascii_lowercase().as_str()) =>
                {
                    let v = if w.eq_ignore_ascii_case("nan") {
                        f64::NAN
                    } else {
                        f64::INFINITY
                    };
                    self.pos += 1;
                    Ok(Value::Num(v))
                }
                _ => self.fail("a number"),
            }
        } else {
            match self.peek() {
                Some(Tok::Quoted(s, '\'' | '"')) => {
                    let s = s.clone();
                    self.pos += 1;
                    Ok(Value::Str(s))
                }
                _ => self.fail("a quoted string such as 'Adam'"),
            }
        }
    }
}

fn token_len(tok: &Tok) -> usize {
    match tok {
        Tok::Word(w) => w.len(),
        Tok::Dot | Tok::LParen | Tok::RParen | Tok::Comma => 1,
        Tok::Op(o) => o.len(),
        // Never glued to a following dot.
        Tok::Quoted(..) | Tok::Num(_) => usize::MAX / 2,
    }
}

fn is_numeric(field: &Field) -> bool {
    matches!(field, Field::Metric(_) | Field::NumAttr(_))
}

impl Filter {
    /// Parse a filter string; an empty (or all-blank) string matches every run.
    ///
    /// # Errors
    /// [`TrackingError::InvalidFilter`] naming the position and what was expected there.
    pub fn parse(src: &str) -> Result<Self> {
        let toks = Lexer::lex(src, "filter")?;
        let mut p = Parser {
            src,
            what: "filter",
            toks,
            pos: 0,
        };
        let mut clauses = Vec::new();
        if p.peek().is_none() {
            return Ok(Self { clauses });
        }
        loop {
            let field = p.field()?;
            let numeric = is_numeric(&field);
            let op = p.op(numeric)?;
            let value = p.value(numeric, op)?;
            clauses.push(Clause { field, op, value });
            if p.peek().is_none() {
                break;
            }
            if p.keyword("and") {
                p.pos += 1;
            } else {
                return p.fail("AND or the end of the filter (only AND is supported)");
            }
        }
        Ok(Self { clauses })
    }

    /// The clauses, in order.
    #[must_use]
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// Whether `run` satisfies every clause.
    pub fn matches(&self, run: &dyn RunFields) -> bool {
        self.clauses.iter().all(|c| c.matches(run))
    }
}

impl Clause {
    /// Whether `run` satisfies this clause.
    pub fn matches(&self, run: &dyn RunFields) -> bool {
        match &self.field {
            Field::Metric(k) => run.metric(k).is_some_and(|v| self.num(v)),
            #[allow(clippy::cast_precision_loss)]
            Field::NumAttr(a) => run.num_attr(*a).is_some_and(|v| self.num(v as f64)),
            Field::Param(k) => run.param(k).is_some_and(|v| self.string(v)),
            Field::Tag(k) => run.tag(k).is_some_and(|v| self.string(v)),
            Field::Attr(a) => run.str_attr(*a).is_some_and(|v| self.string(v)),
        }
    }

    fn num(&self, v: f64) -> bool {
        let Value::Num(x) = self.value else {
            return false;
        };
        match self.op {
            Op::Eq => v == x,
            Op::Ne => v != x,
            Op::Lt => v < x,
            Op::Le => v <= x,
            Op::Gt => v > x,
            Op::Ge => v >= x,
            _ => false,
        }
    }

    fn string(&self, v: &str) -> bool {
        match (&self.value, self.op) {
            (Value::Str(x), Op::Eq) => v == x,
            (Value::Str(x), Op::Ne) => v != x,
            (Value::Str(x), Op::Like) => like(v, x, false),
            (Value::Str(x), Op::ILike) => like(v, x, true),
            (Value::List(xs), Op::In) => xs.iter().any(|x| x == v),
            (Value::List(xs), Op::NotIn) => !xs.iter().any(|x| x == v),
            _ => false,
        }
    }
}

/// SQL `LIKE`: `%` matches any run of characters, `_` one character.
#[must_use]
pub fn like(text: &str, pattern: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.chars().flat_map(char::to_lowercase).collect()
        } else {
            s.chars().collect()
        }
    };
    let t = fold(text);
    let p = fold(pattern);
    // Iterative matcher with backtracking to the last '%': O(len(t) * len(p)) worst case.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

/// Parse order-by clauses (`metrics.acc DESC`, `attributes.start_time`, `params.lr ASC`).
///
/// # Errors
/// [`TrackingError::InvalidFilter`] naming the clause's position and what was expected.
pub fn parse_order_by(clauses: &[String]) -> Result<Vec<OrderBy>> {
    let mut out = Vec::with_capacity(clauses.len());
    for src in clauses {
        let toks = Lexer::lex(src, "order_by clause")?;
        let mut p = Parser {
            src,
            what: "order_by clause",
            toks,
            pos: 0,
        };
        let field = p.field()?;
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
        out.push(OrderBy { field, ascending });
    }
    Ok(out)
}

/// A sort key value extracted from a run for one [`OrderBy`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SortVal<'a> {
    Num(f64),
    Str(&'a str),
    Missing,
}

impl OrderBy {
    pub(crate) fn extract<'a>(&self, run: &'a dyn RunFields) -> SortVal<'a> {
        let num = |v: Option<f64>| v.map_or(SortVal::Missing, SortVal::Num);
        let s = |v: Option<&'a str>| v.map_or(SortVal::Missing, SortVal::Str);
        match &self.field {
            Field::Metric(k) => num(run.metric(k)),
            #[allow(clippy::cast_precision_loss)]
            Field::NumAttr(a) => num(run.num_attr(*a).map(|v| v as f64)),
            Field::Param(k) => s(run.param(k)),
            Field::Tag(k) => s(run.tag(k)),
            Field::Attr(a) => s(run.str_attr(*a)),
        }
    }

    /// Compare two extracted values: missing values and NaN sort last in either direction.
    pub(crate) fn compare(&self, a: &SortVal<'_>, b: &SortVal<'_>) -> Ordering {
        let rank = |v: &SortVal<'_>| match v {
            SortVal::Num(x) if x.is_nan() => 1,
            SortVal::Missing => 2,
            _ => 0,
        };
        let (ra, rb) = (rank(a), rank(b));
        if ra != 0 || rb != 0 {
            return ra.cmp(&rb);
        }
        let ord = match (a, b) {
            (SortVal::Num(x), SortVal::Num(y)) => x.total_cmp(y),
            (SortVal::Str(x), SortVal::Str(y)) => x.cmp(y),
            _ => Ordering::Equal,
        };
        if self.ascending { ord } else { ord.reverse() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct R {
        m: BTreeMap<String, f64>,
        p: BTreeMap<String, String>,
        t: BTreeMap<String, String>,
        status: String,
    }
    impl RunFields for R {
        fn metric(&self, key: &str) -> Option<f64> {
            self.m.get(key).copied()
        }
        fn param(&self, key: &str) -> Option<&str> {
            self.p.get(key).map(String::as_str)
        }
        fn tag(&self, key: &str) -> Option<&str> {
            self.t.get(key).map(String::as_str)
        }
        fn str_attr(&self, attr: StrAttr) -> Option<&str> {
            (attr == StrAttr::Status).then_some(self.status.as_str())
        }
        fn num_attr(&self, _: NumAttr) -> Option<i64> {
            Some(1000)
        }
    }

    fn run() -> R {
        let mut r = R::default();
        r.m.insert("acc".into(), 0.95);
        r.m.insert("val loss".into(), f64::NAN);
        r.p.insert("optimizer".into(), "Adam".into());
        r.t.insert("env".into(), "dev".into());
        r.t.insert("mlflow.runName".into(), "baseline".into());
        r.status = "FINISHED".into();
        r
    }

    #[test]
    fn the_issue_example_matches() {
        let f = Filter::parse(
            "metrics.acc > 0.9 and params.optimizer = 'Adam' and tags.env != 'prod' and attributes.status = 'FINISHED'",
        )
        .unwrap();
        assert_eq!(f.clauses().len(), 4);
        assert!(f.matches(&run()));
        let f = Filter::parse("metrics.acc > 0.96").unwrap();
        assert!(!f.matches(&run()));
    }

    #[test]
    fn strings_like_in_and_missing_keys() {
        let r = run();
        let yes = [
            "params.optimizer LIKE 'Ad%'",
            "params.optimizer ILIKE 'ad_m'",
            "tags.env IN ('dev', 'prod')",
            "tags.env NOT IN ('prod')",
            "tags.mlflow.runName = 'baseline'",
            "tags.`mlflow.runName` = \"baseline\"",
            "metrics.`val loss` != 1",
            "attributes.start_time >= 1000",
            "ATTR.status ilike 'fin%'",
            "metrics.acc >= 9.5e-1",
        ];
        for f in yes {
            assert!(Filter::parse(f).unwrap().matches(&r), "{f}");
        }
        let no = [
            "params.optimizer LIKE 'ad%'",
            "params.missing != 'x'",
            "metrics.missing != 1",
            "metrics.`val loss` = nan",
            "tags.env IN ('prod')",
            "metrics.`val loss` > 0",
        ];
        for f in no {
            assert!(!Filter::parse(f).unwrap().matches(&r), "{f}");
        }
        assert!(Filter::parse("").unwrap().matches(&r));
        assert!(Filter::parse("   ").unwrap().matches(&r));
    }

    #[test]
    fn errors_name_position_and_expectation() {
        let cases = [
            ("metrics.acc >> 0.9", 13, "a number"),
            ("metrics.acc > 'x'", 14, "a number"),
            ("params.opt > 'x'", 11, "string comparison operator"),
            ("foo.acc = 1", 0, "identifier"),
            ("metrics.acc > 1 or metrics.b < 2", 16, "AND"),
            ("params.a = 'unterminated", 11, "closing '"),
            ("attributes.colour = 'red'", 11, "attribute name"),
            ("metrics.acc", 11, "comparison operator"),
            ("tags.env IN 'a'", 12, "'('"),
            ("metrics.acc > 1 and", 19, "identifier"),
            ("params.a = 'x' $", 15, "unexpected character"),
        ];
        for (src, pos, expected) in cases {
            let err = Filter::parse(src).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, TrackingError::InvalidFilter { position, .. } if position == pos),
                "{src}: {msg}"
            );
            assert!(msg.contains(expected), "{src}: {msg}");
        }
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let err = Filter::parse("tags.größe = 'x' nope").unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidFilter { position: 17, .. }),
            "{err}"
        );
    }

    #[test]
    fn order_by_parses() {
        let o = parse_order_by(&[
            "metrics.acc DESC".into(),
            "attributes.start_time".into(),
            "params.lr asc".into(),
        ])
        .unwrap();
        assert_eq!(
            o[0],
            OrderBy {
                field: Field::Metric("acc".into()),
                ascending: false
            }
        );
        assert_eq!(o[1].field, Field::NumAttr(NumAttr::StartTime));
        assert!(o[2].ascending);
        let err = parse_order_by(&["metrics.acc DOWN".into()]).unwrap_err();
        assert!(err.to_string().contains("position 12"), "{err}");
    }

    #[test]
    fn like_matcher() {
        assert!(like("abc", "a%c", false));
        assert!(like("abc", "%", false));
        assert!(like("", "%", false));
        assert!(!like("abc", "a_", false));
        assert!(like("aXbXc", "%b%c", false));
        assert!(like("ÄB", "äb", true));
        assert!(!like("ab", "abc%", false));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,60}") {
            let _ = Filter::parse(&s);
            let _ = parse_order_by(&[s]);
        }

        #[test]
        fn filter_like_input_never_panics(
            s in "(metrics|params|tags|attributes|x)?\\.?[a-z`'\" ]{0,6}(=|!=|<|>=|LIKE| IN |NOT|\\(|,|\\))?[0-9.e'\"a-z ()-]{0,10}( and )?"
        ) {
            if let Err(e) = Filter::parse(&s) {
                let TrackingError::InvalidFilter { position, .. } = e else {
                    panic!("unexpected error kind {e}");
                };
                prop_assert!(position <= s.chars().count());
            }
        }

        #[test]
        fn like_percent_alone_matches_everything(t in "\\PC{0,20}") {
            prop_assert!(like(&t, "%", false));
            prop_assert!(like(&t, &t.replace(['%', '_'], ""), false) || t.contains(['%', '_']));
        }
    }
}
