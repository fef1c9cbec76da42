//! Search result order (`order_by`) and paging (`page_token`), shared by every backend.
//!
//! The clauses follow MLflow's SQL registry store: `<column> [ASC|DESC]`, ascending by default,
//! the direction in any case, each column at most once. Registered models sort by `name` and
//! `last_updated_timestamp` (alias `timestamp`); versions by `name`, `version_number`,
//! `creation_timestamp` and `last_updated_timestamp`. After the caller's clauses the default
//! order breaks ties (models: name ascending; versions: name ascending, then version
//! descending), so the order is total and paging through a result set that does not change
//! returns every item exactly once. Without clauses, versions come most recently updated first
//! (MLflow's default `last_updated_timestamp DESC, name ASC, version_number DESC`).
//! The grammar and the page tokens are [`mlops_mlflow::search`]'s.

use std::cmp::Ordering;

use mlops_mlflow::search::{self as grammar, AttributeRule, Dialect, Kind};
use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};
use crate::model::{ModelVersion, RegisteredModel};

/// A page of search results and the token of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass this as the next search's [`page_token`](crate::Search::page_token) to get the next
    /// page; `None` on the last page.
    pub next_page_token: Option<String>,
}

impl<T> Page<T> {
    /// A single page holding `items`, with no next page.
    #[must_use]
    pub fn last(items: Vec<T>) -> Self {
        Self {
            items,
            next_page_token: None,
        }
    }
}

/// Decode a page token (`None` is the first page).
pub(crate) fn decode_page_token(token: Option<&str>) -> Result<usize> {
    grammar::decode_page_token(token)
        .map_err(|e| RegistryError::invalid("page token", e.to_string()))
}

/// A column results can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Version,
    Created,
    Updated,
}

/// One parsed `order_by` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OrderBy {
    column: Column,
    ascending: bool,
}

/// What is being searched, for the columns it allows and the error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Models,
    Versions,
}

const NO_OPS: &[grammar::Comparator] = &[];

/// The order keys of registered models: MLflow's SQL store refuses `creation_timestamp` and
/// reads `timestamp` as the last update.
const MODEL_ORDER: Dialect = Dialect {
    entities: &[],
    attribute_prefixes: &[],
    attributes: &[
        AttributeRule::new("name", &[], Kind::String, NO_OPS),
        AttributeRule::new(
            "last_updated_timestamp",
            &["timestamp"],
            Kind::Number,
            NO_OPS,
        ),
    ],
    bare_keys: true,
    expected: "name, timestamp or last_updated_timestamp",
};

const VERSION_ORDER: Dialect = Dialect {
    entities: &[],
    attribute_prefixes: &[],
    attributes: &[
        AttributeRule::new("name", &[], Kind::String, NO_OPS),
        AttributeRule::new("version_number", &[], Kind::Number, NO_OPS),
        AttributeRule::new("creation_timestamp", &[], Kind::Number, NO_OPS),
        AttributeRule::new("last_updated_timestamp", &[], Kind::Number, NO_OPS),
    ],
    bare_keys: true,
    expected: "name, version_number, creation_timestamp or last_updated_timestamp",
};

/// Parse MLflow-style `order_by` clauses.
///
/// # Errors
/// [`RegistryError::InvalidArgument`] naming the clause and what is wrong with it.
pub(crate) fn parse_order_by(clauses: &[String], target: Target) -> Result<Vec<OrderBy>> {
    let dialect = match target {
        Target::Models => &MODEL_ORDER,
        Target::Versions => &VERSION_ORDER,
    };
    let parsed =
        grammar::parse_order_by(clauses, dialect, true).map_err(|e| crate::search::invalid(&e))?;
    Ok(parsed
        .into_iter()
        .map(|o| OrderBy {
            column: match o.ident.key.as_str() {
                "name" => Column::Name,
                "version_number" => Column::Version,
                "creation_timestamp" => Column::Created,
                _ => Column::Updated,
            },
            ascending: o.ascending,
        })
        .collect())
}

fn directed(o: Ordering, ascending: bool) -> Ordering {
    if ascending { o } else { o.reverse() }
}

fn cmp_models(order: &[OrderBy], a: &RegisteredModel, b: &RegisteredModel) -> Ordering {
    for o in order {
        let c = match o.column {
            Column::Name | Column::Version => a.name.cmp(&b.name),
            Column::Created => a.created_at.cmp(&b.created_at),
            Column::Updated => a.updated_at.cmp(&b.updated_at),
        };
        let c = directed(c, o.ascending);
        if c.is_ne() {
            return c;
        }
    }
    a.name.cmp(&b.name)
}

/// MLflow's default order of model versions: most recently updated first.
const DEFAULT_VERSION_ORDER: &[OrderBy] = &[OrderBy {
    column: Column::Updated,
    ascending: false,
}];

fn cmp_versions(order: &[OrderBy], a: &ModelVersion, b: &ModelVersion) -> Ordering {
    let order = if order.is_empty() {
        DEFAULT_VERSION_ORDER
    } else {
        order
    };
    for o in order {
        let c = match o.column {
            Column::Name => a.name.cmp(&b.name),
            Column::Version => a.version.cmp(&b.version),
            Column::Created => a.created_at.cmp(&b.created_at),
            Column::Updated => a.updated_at.cmp(&b.updated_at),
        };
        let c = directed(c, o.ascending);
        if c.is_ne() {
            return c;
        }
    }
    a.name.cmp(&b.name).then_with(|| b.version.cmp(&a.version))
}

/// One page of `items` (already filtered and in the default order), ordered by `order`.
fn page_of<T: Clone, R: std::borrow::Borrow<T>>(
    items: impl Iterator<Item = R>,
    order: &[OrderBy],
    cmp: fn(&[OrderBy], &T, &T) -> Ordering,
    page_token: Option<&str>,
    max_results: Option<usize>,
    sort: bool,
) -> Result<Page<T>> {
    let offset = decode_page_token(page_token)?;
    let limit = max_results.unwrap_or(usize::MAX);
    let mut items: Box<dyn Iterator<Item = R>> = Box::new(items);
    if sort {
        let mut all: Vec<R> = items.collect();
        all.sort_by(|a, b| cmp(order, a.borrow(), b.borrow()));
        items = Box::new(all.into_iter());
    }
    let mut page: Vec<T> = items
        .skip(offset)
        .take(limit.saturating_add(1))
        .map(|r| r.borrow().clone())
        .collect();
    // A page size of 0 is an empty last page, not an endless run of empty pages.
    let more = limit > 0 && page.len() > limit;
    page.truncate(limit);
    let next_page_token = more.then(|| grammar::encode_page_token(offset + page.len()));
    Ok(Page {
        items: page,
        next_page_token,
    })
}

/// One page of models; `models` are the matches in name order.
///
/// # Errors
/// A bad `order_by` clause or page token.
pub(crate) fn page_models<'a>(
    models: impl Iterator<Item = &'a RegisteredModel>,
    search: &crate::store::Search,
) -> Result<Page<RegisteredModel>> {
    let order = parse_order_by(&search.order_by, Target::Models)?;
    // Without clauses the models are already in the default order (by name).
    let sort = !order.is_empty();
    page_of(
        models,
        &order,
        cmp_models,
        search.page_token.as_deref(),
        search.max_results,
        sort,
    )
}

/// One page of versions (sorted here: the default order is by update time).
///
/// # Errors
/// A bad `order_by` clause or page token.
pub(crate) fn page_versions(
    versions: impl Iterator<Item = ModelVersion>,
    search: &crate::store::Search,
) -> Result<Page<ModelVersion>> {
    let order = parse_order_by(&search.order_by, Target::Versions)?;
    page_of(
        versions,
        &order,
        cmp_versions,
        search.page_token.as_deref(),
        search.max_results,
        true,
    )
}

/// Check the `order_by` clauses and page token of a version search before any work is done.
///
/// # Errors
/// A bad `order_by` clause or page token.
pub(crate) fn check_version_search(search: &crate::store::Search) -> Result<()> {
    parse_order_by(&search.order_by, Target::Versions)?;
    decode_page_token(search.page_token.as_deref())?;
    Ok(())
}

/// Check the `order_by` clauses and page token of a model search before any work is done.
///
/// # Errors
/// A bad `order_by` clause or page token.
#[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
pub(crate) fn check_model_search(search: &crate::store::Search) -> Result<()> {
    parse_order_by(&search.order_by, Target::Models)?;
    decode_page_token(search.page_token.as_deref())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn parses_mlflow_clauses() {
        let o = parse_order_by(
            &s(&["name", "version_number desc", "creation_timestamp ASC"]),
            Target::Versions,
        )
        .unwrap();
        assert_eq!(o.len(), 3);
        assert!(o[0].ascending && !o[1].ascending && o[2].ascending);
        assert_eq!(o[1].column, Column::Version);
        for bad in [
            "",
            "name sideways",
            "name ASC extra",
            "stage",
            "name, name",
            "name ",
            "tags.x",
        ] {
            let err = parse_order_by(&s(&[bad]), Target::Versions).unwrap_err();
            assert!(
                matches!(
                    err,
                    RegistryError::InvalidArgument {
                        what: "order_by clause",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        let err = parse_order_by(&s(&["version_number"]), Target::Models).unwrap_err();
        assert!(
            err.to_string().contains("unknown key `version_number`"),
            "{err}"
        );
        let err = parse_order_by(&s(&["name", "name DESC"]), Target::Models).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn model_order_keys_follow_mlflow() {
        // `timestamp` is the last update, as in MLflow's SQL store (not the creation time).
        let o = parse_order_by(&s(&["timestamp DESC"]), Target::Models).unwrap();
        assert_eq!(o[0].column, Column::Updated);
        // MLflow refuses creation_timestamp for registered models, and a column twice.
        assert!(parse_order_by(&s(&["creation_timestamp"]), Target::Models).is_err());
        assert!(
            parse_order_by(&s(&["timestamp", "last_updated_timestamp"]), Target::Models).is_err()
        );
    }

    #[test]
    fn page_tokens_keep_their_format() {
        assert_eq!(decode_page_token(Some("o4d2")).unwrap(), 1234);
        assert_eq!(decode_page_token(None).unwrap(), 0);
        for bad in ["", "o", "zz", "o+1", "oxyz"] {
            assert!(decode_page_token(Some(bad)).is_err(), "{bad}");
        }
    }
}
