//! MLflow's run-search filter and `order_by` syntax, evaluated on runs.
//!
//! The grammar (lexer, parser, `LIKE`, page tokens) lives once in [`mlops_mlflow::search`],
//! shared with `mlops-registry`; this module says what a run search allows and evaluates the
//! parsed clauses on a run. A filter is clauses joined by `AND` (any case), each
//! `<entity>.<key> <op> <value>`:
//!
//! | entity | prefixes | operators | values |
//! | --- | --- | --- | --- |
//! | metric | `metrics.`, `metric.` | `=`, `!=`, `<`, `<=`, `>`, `>=` | numbers |
//! | param | `params.`, `param.`, `parameters.`, `parameter.` | `=`, `!=`, `LIKE`, `ILIKE`, `IN`, `NOT IN`, `IS NULL`, `IS NOT NULL` | strings |
//! | tag | `tags.`, `tag.` | as params | strings |
//! | attribute | `attributes.`, `attribute.`, `attr.`, `run.`, or none | strings: as params without `IS [NOT] NULL`; `start_time`, `end_time`: as metrics | |
//! | dataset | `datasets.`, `dataset.` with key `name`, `digest` or `context` | `=`, `!=`, `LIKE`, `ILIKE`, `IN`, `NOT IN` | strings |
//!
//! String attributes are `status`, `run_name` (alias `Run name`), `run_id`, `user_id`,
//! `artifact_uri` and `lifecycle_stage`; numeric ones `start_time` (alias `created`) and
//! `end_time`. A key without a prefix is an attribute (`run_name = 'x' AND run_id IN ('a')`).
//! Entity prefixes may be quoted (`` `metric`.a ``); keys with other characters are quoted with
//! backticks or double quotes (``metrics.`val loss` ``); string values with single or double
//! quotes; `IN` takes a parenthesised list. `LIKE` patterns use `%` (any run of characters) and
//! `_` (one character); `ILIKE` ignores case.
//!
//! As in MLflow, a run lacking the compared metric, param or tag matches only `IS NULL` (not
//! even `!=`). Comparisons with NaN follow IEEE 754: only `!=` holds. A `datasets.` clause
//! holds when any of the run's [inputs](crate::inputs::DatasetInput) satisfies it (so a run without
//! inputs matches none, not even `!=`); dataset keys are matched exactly (`datasets.Name` is an
//! error, as in MLflow) and cannot be ordered by.
//!
//! Errors name the character position (0-based) and what was expected there:
//!
//! ```
//! use mlops_tracking::filter::Filter;
//!
//! let f = Filter::parse("metrics.acc > 0.9 and params.optimizer = 'Adam' and tags.env IS NULL")?;
//! assert_eq!(f.clauses().len(), 3);
//! let err = Filter::parse("metrics.acc >> 0.9").unwrap_err();
//! assert!(err.to_string().contains("position 13"), "{err}");
//! # Ok::<(), mlops_tracking::TrackingError>(())
//! ```

use std::cmp::Ordering;

use mlops_mlflow::search::{
    self, AttributeRule, Comparator, Dialect, Entity, EntityRule, Kind, SearchError,
};

use crate::error::{Result, TrackingError};
use crate::inputs::DatasetInput;

pub use mlops_mlflow::search::{Clause, Comparator as Op, Ident, Value, like};

/// What a run search allows (shared with the MLflow backend's error reporting).
const RUNS: Dialect = Dialect {
    entities: &[
        EntityRule::new(
            Entity::Metric,
            &["metric", "metrics"],
            Kind::Number,
            Comparator::NUMBER,
        ),
        EntityRule::new(
            Entity::Param,
            &["param", "params", "parameter", "parameters"],
            Kind::String,
            Comparator::NULLABLE_STRING,
        ),
        EntityRule::new(
            Entity::Tag,
            &["tag", "tags"],
            Kind::String,
            Comparator::NULLABLE_STRING,
        ),
        EntityRule::new(
            Entity::Dataset,
            &["dataset", "datasets"],
            Kind::String,
            Comparator::STRING,
        )
        .with_keys(&["name", "digest", "context"]),
    ],
    attribute_prefixes: &["attribute", "attributes", "attr", "run"],
    attributes: &[
        AttributeRule::new("status", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("run_name", &["run name"], Kind::String, Comparator::STRING),
        AttributeRule::new("run_id", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("user_id", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("artifact_uri", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("lifecycle_stage", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("start_time", &["created"], Kind::Number, Comparator::NUMBER),
        AttributeRule::new("end_time", &[], Kind::Number, Comparator::NUMBER),
    ],
    bare_keys: true,
    expected: "metrics.<key>, params.<key>, tags.<key>, datasets.<name|digest|context> or attributes.<name>",
};

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
    /// A field of the run's input datasets (any input may match).
    Dataset(DatasetKey),
}

/// The fields of an input dataset a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKey {
    /// `datasets.name`.
    Name,
    /// `datasets.digest`.
    Digest,
    /// `datasets.context`.
    Context,
}

impl DatasetKey {
    fn of(self, input: &DatasetInput) -> &str {
        match self {
            Self::Name => &input.dataset.name,
            Self::Digest => &input.dataset.digest,
            Self::Context => input.context.as_str(),
        }
    }
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

impl Field {
    fn of(ident: &Ident) -> Self {
        let key = ident.key.clone();
        match ident.entity {
            Entity::Metric => Self::Metric(key),
            Entity::Param => Self::Param(key),
            Entity::Tag => Self::Tag(key),
            Entity::Dataset => Self::Dataset(match key.as_str() {
                "name" => DatasetKey::Name,
                "digest" => DatasetKey::Digest,
                _ => DatasetKey::Context,
            }),
            // The dialect only lets these canonical names through.
            _ => match ident.key.as_str() {
                "status" => Self::Attr(StrAttr::Status),
                "run_name" => Self::Attr(StrAttr::RunName),
                "run_id" => Self::Attr(StrAttr::RunId),
                "user_id" => Self::Attr(StrAttr::UserId),
                "artifact_uri" => Self::Attr(StrAttr::ArtifactUri),
                "lifecycle_stage" => Self::Attr(StrAttr::LifecycleStage),
                "start_time" => Self::NumAttr(NumAttr::StartTime),
                _ => Self::NumAttr(NumAttr::EndTime),
            },
        }
    }
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
    /// The run's input datasets (none by default).
    fn inputs(&self) -> &[DatasetInput] {
        &[]
    }
}

fn invalid(e: SearchError) -> TrackingError {
    TrackingError::InvalidFilter {
        what: e.what,
        position: e.position,
        message: e.message,
    }
}

/// A parsed filter: a conjunction of clauses (empty matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    clauses: Vec<Clause>,
    fields: Vec<Field>,
}

impl Filter {
    /// Parse a filter string; an empty (or all-blank) string matches every run.
    ///
    /// # Errors
    /// [`TrackingError::InvalidFilter`] naming the position and what was expected there.
    pub fn parse(src: &str) -> Result<Self> {
        let parsed = search::Filter::parse(src, &RUNS).map_err(invalid)?;
        let clauses = parsed.clauses().to_vec();
        let fields = clauses.iter().map(|c| Field::of(&c.ident)).collect();
        Ok(Self { clauses, fields })
    }

    /// The clauses, in order.
    #[must_use]
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// Whether `run` satisfies every clause.
    pub fn matches(&self, run: &dyn RunFields) -> bool {
        self.parts().all(|(c, f)| clause_matches(c, f, run))
    }

    /// Each clause with the field it refers to.
    pub(crate) fn parts(&self) -> impl Iterator<Item = (&Clause, &Field)> {
        self.clauses.iter().zip(&self.fields)
    }
}

/// Whether `run` satisfies clause `c`, whose field is `f`.
pub(crate) fn clause_matches(c: &Clause, f: &Field, run: &dyn RunFields) -> bool {
    match f {
        Field::Metric(k) => c.matches_num(run.metric(k)),
        #[allow(clippy::cast_precision_loss)]
        Field::NumAttr(a) => c.matches_num(run.num_attr(*a).map(|v| v as f64)),
        Field::Param(k) => c.matches_str(run.param(k)),
        Field::Tag(k) => c.matches_str(run.tag(k)),
        Field::Attr(a) => c.matches_str(run.str_attr(*a)),
        Field::Dataset(k) => run.inputs().iter().any(|i| c.matches_str(Some(k.of(i)))),
    }
}

/// One parsed order-by clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// The key to order by.
    pub field: Field,
    /// Ascending (the default) or descending.
    pub ascending: bool,
}

/// Parse order-by clauses (`metrics.acc DESC`, `attributes.start_time`, `params.lr ASC`).
///
/// # Errors
/// [`TrackingError::InvalidFilter`] naming the clause's position and what was expected.
pub fn parse_order_by(clauses: &[String]) -> Result<Vec<OrderBy>> {
    let parsed = search::parse_order_by(clauses, &RUNS, false).map_err(invalid)?;
    let mut out = Vec::with_capacity(parsed.len());
    for (i, o) in parsed.into_iter().enumerate() {
        if o.ident.entity == Entity::Dataset {
            return Err(TrackingError::InvalidFilter {
                what: "order_by clause",
                position: 0,
                message: format!(
                    "cannot order by `{}` (clause {}): a run may have several input datasets",
                    o.ident,
                    i + 1
                ),
            });
        }
        out.push(OrderBy {
            field: Field::of(&o.ident),
            ascending: o.ascending,
        });
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
            Field::Dataset(_) => SortVal::Missing,
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
            "tags.missing IS NULL",
            "params.optimizer IS NOT NULL",
            "`metric`.acc > 0.9",
            "status = 'FINISHED' AND created = 1000",
        ];
        for f in yes {
            assert!(Filter::parse(f).unwrap().matches(&r), "{f}");
        }
        let no = [
            "params.optimizer LIKE 'ad%'",
            "params.missing != 'x'",
            "metrics.missing != 1",
            "tags.env IN ('prod')",
            "metrics.`val loss` > 0",
            "tags.env IS NULL",
            "params.missing IS NOT NULL",
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
            ("tags.env IN 'a'", 12, "`(`"),
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
        // MLflow refuses a clause with a trailing blank.
        assert!(parse_order_by(&["params.lr ".into()]).is_err());
    }
}
