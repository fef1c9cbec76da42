//! MLflow's search grammar: filters, `order_by` clauses and page tokens, parsed once for every
//! embedded backend.
//!
//! A filter is comparisons joined by `AND` (keywords in any case), each
//! `<identifier> <comparator> <value>`:
//!
//! ```text
//! filter      := "" | clause ( AND clause )*
//! clause      := identifier comparator value | identifier IS [NOT] NULL
//! identifier  := entity "." key | key                  (a bare key is an attribute)
//! entity      := word | `word`                          (e.g. metrics, `metric`, tags)
//! key         := word(.word)* | `any text` | "any text" | 'any text'
//! comparator  := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
//! value       := 'text' | "text" | number | ( value, ... )   (numbers are finite literals)
//! ```
//!
//! What each caller allows — which entity prefixes (`metrics.`, `tags.`, ...), which attribute
//! keys and their aliases (``attributes.`Run name` `` for `run_name`), which comparators for
//! which kind of value — is a [`Dialect`] the caller passes; the grammar itself knows no
//! domain. `LIKE` and `ILIKE` match Unicode characters with `%` and `_` wildcards, as MLflow's
//! SQL stores do ([`like`]). Inside quotes a backslash takes the next character literally and a
//! doubled quote stands for the quote.
//!
//! ```
//! use mlops_mlflow::search::{
//!     AttributeRule, Comparator, Dialect, Entity, EntityRule, Filter, Kind,
//! };
//!
//! const DIALECT: Dialect = Dialect {
//!     entities: &[EntityRule::new(Entity::Tag, &["tag", "tags"], Kind::String, Comparator::NULLABLE_STRING)],
//!     attribute_prefixes: &["attribute", "attributes"],
//!     attributes: &[AttributeRule::new("name", &[], Kind::String, Comparator::STRING)],
//!     bare_keys: true,
//!     expected: "name or tags.<key>",
//! };
//! let f = Filter::parse("name LIKE 'mod_l%' AND tags.`team name` IS NOT NULL", &DIALECT)?;
//! let [name, team] = f.clauses() else { unreachable!() };
//! assert!(name.matches_str(Some("modèle-2")));
//! assert!(!team.matches_str(None));
//! let err = Filter::parse("name = 'a' OR name = 'b'", &DIALECT).unwrap_err();
//! assert_eq!(err.position, 11);
//! # Ok::<(), mlops_mlflow::search::SearchError>(())
//! ```

mod lex;
mod like;
mod page;
mod parse;

use std::fmt;

pub use crate::search::like::like;
pub use crate::search::page::{PageTokenError, decode_page_token, encode_page_token};
pub use crate::search::parse::parse_order_by;

/// What an identifier refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Entity {
    /// A metric (`metrics.<key>`).
    Metric,
    /// A param (`params.<key>`).
    Param,
    /// A tag (`tags.<key>`).
    Tag,
    /// An attribute of the searched item (`attributes.<name>` or a bare `<name>`).
    Attribute,
}

/// The kind of value a key is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Quoted strings.
    String,
    /// Numbers.
    Number,
}

/// A comparator of a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparator {
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
    /// `LIKE` (see [`like`])
    Like,
    /// `ILIKE`: `LIKE` ignoring case
    ILike,
    /// `IN (...)`
    In,
    /// `NOT IN (...)`
    NotIn,
    /// `IS NULL`: the key is absent
    IsNull,
    /// `IS NOT NULL`: the key is present
    IsNotNull,
}

impl Comparator {
    /// The comparators of numbers: `=`, `!=`, `<`, `<=`, `>`, `>=`.
    pub const NUMBER: &'static [Self] =
        &[Self::Eq, Self::Ne, Self::Lt, Self::Le, Self::Gt, Self::Ge];
    /// The comparators of strings: `=`, `!=`, `LIKE`, `ILIKE`, `IN`, `NOT IN`.
    pub const STRING: &'static [Self] = &[
        Self::Eq,
        Self::Ne,
        Self::Like,
        Self::ILike,
        Self::In,
        Self::NotIn,
    ];
    /// [`Comparator::STRING`] plus `IS NULL` and `IS NOT NULL` (MLflow: tags and params).
    pub const NULLABLE_STRING: &'static [Self] = &[
        Self::Eq,
        Self::Ne,
        Self::Like,
        Self::ILike,
        Self::In,
        Self::NotIn,
        Self::IsNull,
        Self::IsNotNull,
    ];

    /// How the comparator is written.
    #[must_use]
    pub fn as_str(self) -> &'static str {
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
            Self::IsNull => "IS NULL",
            Self::IsNotNull => "IS NOT NULL",
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The right-hand side of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string.
    Str(String),
    /// A number.
    Num(f64),
    /// A parenthesised list (`IN`, `NOT IN`) of strings or numbers.
    List(Vec<Value>),
    /// No value (`IS NULL`, `IS NOT NULL`).
    Null,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
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
            Self::Null => Ok(()),
        }
    }
}

/// The left-hand side of a clause or an `order_by` key: an entity and a key. Attribute keys are
/// the canonical name of the [`AttributeRule`] (aliases resolved).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    /// What the key names.
    pub entity: Entity,
    /// The key (metric, param or tag key; canonical attribute name).
    pub key: String,
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.entity {
            Entity::Metric => "metrics",
            Entity::Param => "params",
            Entity::Tag => "tags",
            Entity::Attribute => return f.write_str(&self.key),
        };
        write!(
            f,
            "{prefix}.`{}`",
            self.key.replace('\\', "\\\\").replace('`', "\\`")
        )
    }
}

/// One `<identifier> <comparator> <value>` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// The left-hand side.
    pub ident: Ident,
    /// The comparator.
    pub op: Comparator,
    /// The right-hand side ([`Value::Null`] for `IS [NOT] NULL`).
    pub value: Value,
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Value::Null => write!(f, "{} {}", self.ident, self.op),
            _ => write!(f, "{} {} {}", self.ident, self.op, self.value),
        }
    }
}

impl Clause {
    /// Evaluate the clause on a string field (`None`: the item lacks the key). As in MLflow, a
    /// missing key matches only `IS NULL` (not even `!=`).
    #[must_use]
    pub fn matches_str(&self, field: Option<&str>) -> bool {
        let Some(v) = field else {
            return self.op == Comparator::IsNull;
        };
        let is = |x: &Value| matches!(x, Value::Str(s) if s == v);
        match (self.op, &self.value) {
            (Comparator::IsNotNull, _) => true,
            (Comparator::Eq, x) => is(x),
            (Comparator::Ne, x) => matches!(x, Value::Str(_)) && !is(x),
            (Comparator::Like, Value::Str(p)) => like(v, p, false),
            (Comparator::ILike, Value::Str(p)) => like(v, p, true),
            (Comparator::In, Value::List(l)) => l.iter().any(is),
            (Comparator::NotIn, Value::List(l)) => !l.iter().any(is),
            _ => false,
        }
    }

    /// Evaluate the clause on a numeric field (`None`: the item lacks the key). Comparisons with
    /// NaN follow IEEE 754: only `!=` holds.
    #[must_use]
    pub fn matches_num(&self, field: Option<f64>) -> bool {
        let Some(v) = field else {
            return self.op == Comparator::IsNull;
        };
        let is = |x: &Value| matches!(x, Value::Num(n) if *n == v);
        match (self.op, &self.value) {
            (Comparator::IsNotNull, _) => true,
            (Comparator::Eq, x) => is(x),
            (Comparator::Ne, Value::Num(n)) => v != *n,
            (Comparator::Lt, Value::Num(n)) => v < *n,
            (Comparator::Le, Value::Num(n)) => v <= *n,
            (Comparator::Gt, Value::Num(n)) => v > *n,
            (Comparator::Ge, Value::Num(n)) => v >= *n,
            (Comparator::In, Value::List(l)) => l.iter().any(is),
            (Comparator::NotIn, Value::List(l)) => !l.iter().any(is),
            _ => false,
        }
    }
}

/// A parsed filter: clauses that must all hold (the empty filter matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    clauses: Vec<Clause>,
}

impl Filter {
    /// Parse `src` with what `dialect` allows; an empty or all-blank string is the empty filter.
    ///
    /// # Errors
    /// [`SearchError`] naming the character position and what was expected there.
    pub fn parse(src: &str, dialect: &Dialect) -> Result<Self, SearchError> {
        parse::parse_filter(src, dialect).map(|clauses| Self { clauses })
    }

    /// A filter of the given clauses (not checked against a dialect).
    #[must_use]
    pub fn from_clauses(clauses: Vec<Clause>) -> Self {
        Self { clauses }
    }

    /// The clauses, in order.
    #[must_use]
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// Add a clause.
    pub fn push(&mut self, clause: Clause) {
        self.clauses.push(clause);
    }
}

impl fmt::Display for Filter {
    /// MLflow filter syntax that parses back to the same clauses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" AND ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// One parsed `order_by` clause: `<identifier> [ASC|DESC]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// The key to order by.
    pub ident: Ident,
    /// Ascending (the default) or descending.
    pub ascending: bool,
}

/// The keys an entity prefix (`metrics.`, `params.`, `tags.`) admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityRule {
    /// The entity.
    pub entity: Entity,
    /// The prefixes naming it (matched ignoring ASCII case), e.g. `["metric", "metrics"]`.
    pub names: &'static [&'static str],
    /// What its values are compared with.
    pub kind: Kind,
    /// The comparators it takes.
    pub comparators: &'static [Comparator],
}

impl EntityRule {
    /// A rule.
    #[must_use]
    pub const fn new(
        entity: Entity,
        names: &'static [&'static str],
        kind: Kind,
        comparators: &'static [Comparator],
    ) -> Self {
        Self {
            entity,
            names,
            kind,
            comparators,
        }
    }
}

/// One attribute key a caller allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeRule {
    /// The canonical name (what [`Ident::key`] holds).
    pub key: &'static str,
    /// Other names for it (`created` for `start_time`, `Run name` for `run_name`).
    pub aliases: &'static [&'static str],
    /// What its values are compared with.
    pub kind: Kind,
    /// The comparators it takes.
    pub comparators: &'static [Comparator],
}

impl AttributeRule {
    /// A rule.
    #[must_use]
    pub const fn new(
        key: &'static str,
        aliases: &'static [&'static str],
        kind: Kind,
        comparators: &'static [Comparator],
    ) -> Self {
        Self {
            key,
            aliases,
            kind,
            comparators,
        }
    }
}

/// What one search allows: the caller's half of the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Keyed entities (`metrics.<key>`, `params.<key>`, `tags.<key>`).
    pub entities: &'static [EntityRule],
    /// Prefixes naming attributes (`attributes.<name>`), matched ignoring ASCII case.
    pub attribute_prefixes: &'static [&'static str],
    /// The attributes (names and aliases matched ignoring ASCII case).
    pub attributes: &'static [AttributeRule],
    /// Whether a key without a prefix is an attribute (`run_name = 'x'`).
    pub bare_keys: bool,
    /// What an identifier looks like, for error messages (`"metrics.<key>, ..."`).
    pub expected: &'static str,
}

impl Dialect {
    fn attribute(&self, key: &str) -> Option<&AttributeRule> {
        self.attributes.iter().find(|a| {
            a.key.eq_ignore_ascii_case(key) || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(key))
        })
    }

    fn entity(&self, prefix: &str) -> Option<&EntityRule> {
        self.entities
            .iter()
            .find(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(prefix)))
    }

    fn is_attribute_prefix(&self, prefix: &str) -> bool {
        self.attribute_prefixes
            .iter()
            .any(|n| n.eq_ignore_ascii_case(prefix))
    }

    fn attribute_names(&self) -> String {
        self.attributes
            .iter()
            .map(|a| a.key)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A filter or `order_by` clause that does not parse, or that uses what the caller's
/// [`Dialect`] does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchError {
    /// `"filter"` or `"order_by clause"`.
    pub what: &'static str,
    /// The offending clause, as written (the whole input when no clause had started).
    pub clause: String,
    /// The character position (0-based) in the whole input where [`SearchError::clause`]
    /// starts.
    pub clause_start: usize,
    /// The character position (0-based) in the whole input where the problem was found.
    pub position: usize,
    /// What was expected there and what was found.
    pub message: String,
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} at position {} (in {:?}): {}",
            self.what, self.position, self.clause, self.message
        )
    }
}

impl std::error::Error for SearchError {}

#[cfg(test)]
mod tests;
