//! Search result order (`order_by`) and paging (`page_token`), shared by every backend.
//!
//! The clauses follow MLflow: `<column> [ASC|DESC]`, ascending by default, the direction in any
//! case. Registered models sort by `name`, `creation_timestamp` (alias `timestamp`) and
//! `last_updated_timestamp`; versions also by `version_number`. After the caller's clauses the
//! default order (name ascending, then version descending) breaks ties, so the order is total
//! and paging through a result set that does not change returns every item exactly once.

use std::cmp::Ordering;

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

/// Encode a result offset as an opaque page token.
pub(crate) fn encode_page_token(offset: usize) -> String {
    format!("o{offset:x}")
}

/// Decode a page token made by [`encode_page_token`] (`None` is the first page).
pub(crate) fn decode_page_token(token: Option<&str>) -> Result<usize> {
    let Some(token) = token else { return Ok(0) };
    token
        .strip_prefix('o')
        .filter(|hex| !hex.is_empty() && !hex.starts_with('+'))
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .ok_or_else(|| {
            RegistryError::invalid("page token", format!("{token:?} is not a page token"))
        })
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

/// Parse MLflow-style `order_by` clauses.
///
/// # Errors
/// [`RegistryError::InvalidArgument`] naming the clause and what is wrong with it.
pub(crate) fn parse_order_by(clauses: &[String], target: Target) -> Result<Vec<OrderBy>> {
    let mut out: Vec<OrderBy> = Vec::with_capacity(clauses.len());
    for clause in clauses {
        let bad =
            |why: String| RegistryError::invalid("order_by clause", format!("{clause:?}: {why}"));
        let mut words = clause.split_whitespace();
        let Some(col) = words.next() else {
            return Err(bad("empty clause".into()));
        };
        let col = col.trim_matches('`');
        let column = match (col, target) {
            ("name", _) => Column::Name,
            ("version_number", Target::Versions) => Column::Version,
            ("creation_timestamp", _) | ("timestamp", Target::Models) => Column::Created,
            ("last_updated_timestamp", _) => Column::Updated,
            _ => {
                let allowed = match target {
                    Target::Models => "name, creation_timestamp, timestamp, last_updated_timestamp",
                    Target::Versions => {
                        "name, version_number, creation_timestamp, last_updated_timestamp"
                    }
                };
                return Err(bad(format!(
                    "cannot order by {col:?}; expected one of {allowed}"
                )));
            }
        };
        let ascending = match words.next() {
            None => true,
            Some(d) if d.eq_ignore_ascii_case("asc") => true,
            Some(d) if d.eq_ignore_ascii_case("desc") => false,
            Some(d) => return Err(bad(format!("expected ASC or DESC, found {d:?}"))),
        };
        if let Some(extra) = words.next() {
            return Err(bad(format!("unexpected {extra:?} after the direction")));
        }
        if out.iter().any(|o| o.column == column) {
            return Err(bad(format!("{col:?} is ordered by twice")));
        }
        out.push(OrderBy { column, ascending });
    }
    Ok(out)
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

fn cmp_versions(order: &[OrderBy], a: &ModelVersion, b: &ModelVersion) -> Ordering {
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
) -> Result<Page<T>> {
    let offset = decode_page_token(page_token)?;
    let limit = max_results.unwrap_or(usize::MAX);
    let mut items: Box<dyn Iterator<Item = R>> = Box::new(items);
    if !order.is_empty() {
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
    let next_page_token = more.then(|| encode_page_token(offset + page.len()));
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
    page_of(
        models,
        &order,
        cmp_models,
        search.page_token.as_deref(),
        search.max_results,
    )
}

/// One page of versions; `versions` are the matches in (name, version descending) order.
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
        for bad in ["", "name sideways", "name ASC extra", "stage", "name, name"] {
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
            err.to_string()
                .contains("cannot order by \"version_number\""),
            "{err}"
        );
        let err = parse_order_by(&s(&["name", "name DESC"]), Target::Models).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(
            decode_page_token(Some(&encode_page_token(1234))).unwrap(),
            1234
        );
        assert_eq!(decode_page_token(None).unwrap(), 0);
        for bad in ["", "o", "zz", "o+1", "oxyz"] {
            assert!(decode_page_token(Some(bad)).is_err(), "{bad}");
        }
    }
}
