//! MLflow-like search filters on registered models and model versions:
//! `name = 'm' AND tags.team = 'nlp' AND current_stage = 'Production'`.
//!
//! The grammar (lexer, parser, `LIKE`, `IS NULL`, page tokens) lives once in
//! [`mlops_mlflow::search`], shared with `mlops-tracking`; this module says which keys a registry
//! search allows and evaluates parsed clauses on models and versions. Keywords are
//! case-insensitive; clauses are joined by `AND`, as in MLflow:
//!
//! ```text
//! filter  := clause ( AND clause )*
//! clause  := key op value | key IS [NOT] NULL
//! key     := name | run_id | source_path (alias source) | current_stage (alias stage)
//!          | alias | status | description | version_number (alias version)
//!          | tags.<key> | metrics.<key>       (also attribute.<name>, tag.<key>, metric.<key>)
//!            (<key> is a word, or quoted with `...`, "..." or '...')
//! op      := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
//! value   := 'string' | "string" | number | ( value , ... )
//! ```
//!
//! String keys take `=`, `!=`, `LIKE`, `ILIKE` (SQL patterns over Unicode characters: `%` any
//! run, `_` one character), `IN` and `NOT IN`; tags also `IS NULL` / `IS NOT NULL`.
//! `version_number` and `metrics.<key>` take numbers and every comparison. `alias = 'champion'`
//! matches the version the alias points at; `tags.k != 'v'` matches versions that have tag `k`
//! with another value. Registered-model searches accept `name`, `description` and
//! `tags.<key>` only.

use std::fmt;
use std::str::FromStr;

use mlops_mlflow::search::{
    self as grammar, AttributeRule, Comparator, Dialect, Entity, EntityRule, Kind, SearchError,
};

use crate::error::{RegistryError, Result};
use crate::model::{ModelVersion, RegisteredModel};

pub use mlops_mlflow::search::{Clause, Comparator as Op, Ident, Value, like};

const NUMBER_OR_LIST: &[Comparator] = &[
    Comparator::Eq,
    Comparator::Ne,
    Comparator::Lt,
    Comparator::Le,
    Comparator::Gt,
    Comparator::Ge,
    Comparator::In,
    Comparator::NotIn,
];

/// What a registry filter allows (registered-model searches narrow it further, see
/// [`Filter::check_for_models`]).
const FILTER: Dialect = Dialect {
    entities: &[
        EntityRule::new(
            Entity::Tag,
            &["tag", "tags"],
            Kind::String,
            Comparator::NULLABLE_STRING,
        ),
        EntityRule::new(
            Entity::Metric,
            &["metric", "metrics"],
            Kind::Number,
            NUMBER_OR_LIST,
        ),
    ],
    attribute_prefixes: &["attribute", "attributes"],
    attributes: &[
        AttributeRule::new("name", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("run_id", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("source_path", &["source"], Kind::String, Comparator::STRING),
        AttributeRule::new(
            "current_stage",
            &["stage"],
            Kind::String,
            Comparator::STRING,
        ),
        AttributeRule::new("alias", &["aliases"], Kind::String, Comparator::STRING),
        AttributeRule::new("status", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("description", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("version_number", &["version"], Kind::Number, NUMBER_OR_LIST),
    ],
    bare_keys: true,
    expected: "name, run_id, source_path, current_stage, alias, status, description, \
               version_number, tags.<key> or metrics.<key>",
};

/// The field a clause tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The registered model's name.
    Name,
    /// The run id.
    RunId,
    /// The artifact source (`source_path`, alias `source`).
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
    fn of(ident: &Ident) -> Self {
        match ident.entity {
            Entity::Tag => Self::Tag(ident.key.clone()),
            Entity::Metric => Self::Metric(ident.key.clone()),
            // The dialect only lets these canonical names through.
            _ => match ident.key.as_str() {
                "name" => Self::Name,
                "run_id" => Self::RunId,
                "source_path" => Self::Source,
                "current_stage" => Self::Stage,
                "alias" => Self::Alias,
                "status" => Self::Status,
                "description" => Self::Description,
                _ => Self::Version,
            },
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name => f.write_str("name"),
            Self::RunId => f.write_str("run_id"),
            Self::Source => f.write_str("source_path"),
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

/// Map a grammar error to the registry's error: the clause and the 1-based column in it.
pub(crate) fn invalid(e: &SearchError) -> RegistryError {
    RegistryError::invalid(
        e.what,
        format!(
            "{:?} at column {}: {}",
            e.clause,
            e.position.saturating_sub(e.clause_start) + 1,
            e.message
        ),
    )
}

/// A parsed filter: clauses that must all hold. The empty filter matches everything.
///
/// ```
/// use mlops_registry::search::Filter;
/// let f: Filter = "name = 'm' AND tags.team = 'nlp' AND version_number >= 2".parse()?;
/// assert_eq!(f.clauses().len(), 3);
/// let err = "name == 'm'".parse::<Filter>().unwrap_err().to_string();
/// assert!(err.contains("column 6"), "{err}");
/// # Ok::<(), mlops_registry::RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    clauses: Vec<Clause>,
    keys: Vec<Key>,
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
            ident: Ident {
                entity: Entity::Attribute,
                key: "name".to_owned(),
            },
            op: Op::Eq,
            value: Value::Str(name.to_owned()),
        });
        self.keys.push(Key::Name);
    }

    /// The clauses.
    #[must_use]
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// The clauses with the field each tests.
    pub fn keyed(&self) -> impl Iterator<Item = (&Key, &Clause)> {
        self.keys.iter().zip(&self.clauses)
    }

    /// Check that the filter uses only keys a registered-model search understands (`name`,
    /// `description`, `tags.<key>`).
    ///
    /// # Errors
    /// [`RegistryError::InvalidArgument`] naming the first other key.
    pub fn check_for_models(&self) -> Result<()> {
        for k in &self.keys {
            if !matches!(k, Key::Name | Key::Description | Key::Tag(_)) {
                return Err(RegistryError::invalid(
                    "filter",
                    format!(
                        "key `{k}` cannot filter registered models (use name, description or tags.<key>)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether `v` (with its aliases filled in) matches every clause.
    #[must_use]
    pub fn matches_version(&self, v: &ModelVersion) -> bool {
        self.keyed().all(|(k, c)| match k {
            Key::Name => c.matches_str(Some(&v.name)),
            Key::RunId => c.matches_str(v.run_id.as_deref()),
            Key::Source => c.matches_str(Some(&v.source)),
            Key::Stage => stage_match(c, v.stage.as_str()),
            Key::Status => c.matches_str(Some(v.status.as_str())),
            Key::Description => c.matches_str(Some(&v.description)),
            Key::Alias => match c.op {
                Op::Ne | Op::NotIn => v.aliases.iter().all(|a| c.matches_str(Some(a.as_str()))),
                _ => v.aliases.iter().any(|a| c.matches_str(Some(a.as_str()))),
            },
            Key::Tag(t) => c.matches_str(v.tags.get(t).map(String::as_str)),
            #[allow(clippy::cast_precision_loss)]
            Key::Version => c.matches_num(Some(v.version.get() as f64)),
            Key::Metric(m) => c.matches_num(v.metrics.get(m).copied()),
        })
    }

    /// Whether `m` matches every clause (see [`Filter::check_for_models`]).
    #[must_use]
    pub fn matches_model(&self, m: &RegisteredModel) -> bool {
        self.keyed().all(|(k, c)| match k {
            Key::Name => c.matches_str(Some(&m.name)),
            Key::Description => c.matches_str(Some(&m.description)),
            Key::Tag(t) => c.matches_str(m.tags.get(t).map(String::as_str)),
            _ => false,
        })
    }

    /// The exact model name the filter requires, when it has a `name = '...'` clause (lets a
    /// backend look at one model instead of all).
    #[must_use]
    pub fn exact_name(&self) -> Option<&str> {
        self.keyed().find_map(|(k, c)| match (k, c.op, &c.value) {
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
        _ => c.matches_str(Some(stage)),
    }
}

impl fmt::Display for Filter {
    /// The filter in MLflow's syntax (it parses back to the same filter).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        grammar::Filter::from_clauses(self.clauses.clone()).fmt(f)
    }
}

impl FromStr for Filter {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        let parsed = grammar::Filter::parse(s, &FILTER).map_err(|e| invalid(&e))?;
        let clauses = parsed.clauses().to_vec();
        let keys = clauses.iter().map(|c| Key::of(&c.ident)).collect();
        Ok(Self { clauses, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let f: Filter = "name='m' and TAGS.`my key` != \"x\" AND version_number IN (1, 2) AND current_stage NOT IN ('Archived') AND metrics.acc >= 0.9"
            .parse()
            .unwrap();
        assert_eq!(f.clauses().len(), 5);
        assert_eq!(f.keys[1], Key::Tag("my key".into()));
        assert_eq!(f.clauses()[3].op, Op::NotIn);
        let again: Filter = f.to_string().parse().unwrap();
        assert_eq!(again, f);
        assert_eq!(f.exact_name(), Some("m"));
        assert!("".parse::<Filter>().unwrap().clauses().is_empty());
        let f: Filter = "source_path = 's3://a' AND source LIKE 's3:%' AND tags.t IS NULL"
            .parse()
            .unwrap();
        assert_eq!(f.keys, [Key::Source, Key::Source, Key::Tag("t".into())]);
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
            // The clause at fault, and the column in it.
            (
                "name = 'a' AND nam = 'b'",
                "\"nam = 'b'\" at column 1: unknown key `nam`",
            ),
            ("name IS NULL", "found IS NULL"),
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
}
