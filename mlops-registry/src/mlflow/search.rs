//! Search requests: which clauses of a [`Filter`] MLflow's server can evaluate, and the query
//! parameters of one page (`filter`, `max_results`, `order_by`, `page_token`).

use crate::search::{Clause, Filter, Key, Op, Value};

/// The query of one page of `registered-models/search` or `model-versions/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageQuery {
    /// MLflow's filter string (empty: everything).
    pub filter: String,
    /// Page size.
    pub max_results: Option<usize>,
    /// MLflow `order_by` clauses, e.g. `name ASC`, `version_number DESC`.
    pub order_by: Vec<String>,
    /// The token of the page to fetch (from the previous page's `next_page_token`).
    pub page_token: Option<String>,
}

impl PageQuery {
    /// The GET query parameters (`order_by` repeated, as MLflow expects).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if !self.filter.is_empty() {
            q.push(("filter", self.filter.clone()));
        }
        if let Some(n) = self.max_results {
            q.push(("max_results", n.to_string()));
        }
        for o in &self.order_by {
            q.push(("order_by", o.clone()));
        }
        if let Some(t) = &self.page_token {
            q.push(("page_token", t.clone()));
        }
        q
    }
}

/// A filter split for the server: the clauses it evaluates, and whether they are all of the
/// filter with MLflow's semantics equal to ours (then the server's answer needs no further
/// filtering and `max_results` can be passed through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pushdown {
    /// MLflow's filter string.
    pub filter: String,
    /// Whether the server's answer is exactly the filter's answer.
    pub exact: bool,
}

/// What is being searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Models,
    Versions,
}

/// Quote a string literal for MLflow's filter grammar, when it can be (a backslash, or both
/// quote characters, cannot be: such a clause is left to the client-side check).
fn quote(s: &str) -> Option<String> {
    if s.contains('\\') {
        None
    } else if !s.contains('\'') {
        Some(format!("'{s}'"))
    } else if !s.contains('"') {
        Some(format!("\"{s}\""))
    } else {
        None
    }
}

fn quote_list(items: &[Value], prefix: &str) -> Option<String> {
    let mut out = Vec::with_capacity(items.len());
    for v in items {
        match v {
            Value::Str(s) => out.push(quote(&format!("{prefix}{s}"))?),
            _ => return None,
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(format!("({})", out.join(", ")))
}

/// One clause for the server, and whether its server semantics are exactly ours.
fn clause(key: &Key, c: &Clause, target: Target, prefix: &str) -> Option<(String, bool)> {
    match (key, c.op, &c.value) {
        (Key::Name, Op::Eq, Value::Str(s)) => {
            Some((format!("name = {}", quote(&format!("{prefix}{s}"))?), true))
        }
        (Key::Name, Op::In, Value::List(l)) => {
            Some((format!("name IN {}", quote_list(l, prefix)?), true))
        }
        // SQL LIKE on the server may fold case (SQLite does for ASCII): a superset, refiltered.
        // ILIKE is not sent when the pattern has non-ASCII letters: SQLite's lower() folds ASCII
        // only, so the server would drop names our Unicode case folding accepts.
        (Key::Name, Op::Like | Op::ILike, Value::Str(p)) if c.op == Op::Like || p.is_ascii() => {
            let op = if c.op == Op::Like { "LIKE" } else { "ILIKE" };
            Some((
                format!("name {op} {}", quote(&format!("{prefix}{p}"))?),
                false,
            ))
        }
        (Key::RunId, Op::Eq, Value::Str(s)) if target == Target::Versions => {
            Some((format!("run_id = {}", quote(s)?), true))
        }
        (Key::RunId, Op::In, Value::List(l)) if target == Target::Versions => {
            Some((format!("run_id IN {}", quote_list(l, "")?), true))
        }
        (Key::Source, Op::Eq, Value::Str(s)) if target == Target::Versions => {
            Some((format!("source_path = {}", quote(s)?), true))
        }
        (Key::Tag(k), Op::Eq, Value::Str(v))
            if !k.contains('`') && !k.starts_with(super::wire::RESERVED_PREFIX) =>
        {
            Some((format!("tags.`{k}` = {}", quote(v)?), true))
        }
        _ => None,
    }
}

/// Split `filter` for the server. With a name `prefix` (see
/// [`MlflowRegistry::with_name_prefix`](super::MlflowRegistry::with_name_prefix)) a
/// `name LIKE '<prefix>%'` clause scopes the search; names in clauses get the prefix.
pub(crate) fn pushdown(filter: &Filter, target: Target, prefix: &str) -> Pushdown {
    let mut parts = Vec::new();
    let mut exact = true;
    let mut has_name = false;
    for (k, c) in filter.keyed() {
        match clause(k, c, target, prefix) {
            Some((s, e)) => {
                has_name |= *k == Key::Name;
                exact &= e;
                parts.push(s);
            }
            None => exact = false,
        }
    }
    if !prefix.is_empty() && !has_name {
        if let Some(q) = quote(&format!("{prefix}%")) {
            parts.push(format!("name LIKE {q}"));
        }
        // The server's LIKE is a superset (`_` and `%` in the prefix, case folding).
        exact = false;
    }
    Pushdown {
        filter: parts.join(" AND "),
        exact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(f: &str, target: Target, prefix: &str) -> Pushdown {
        pushdown(&f.parse().unwrap(), target, prefix)
    }

    #[test]
    fn exact_clauses_pass_through() {
        let p = push(
            "name = 'm' AND run_id IN ('a', 'b') AND tags.team = 'nlp'",
            Target::Versions,
            "",
        );
        assert_eq!(
            p.filter,
            "name = 'm' AND run_id IN ('a', 'b') AND tags.`team` = 'nlp'"
        );
        assert!(p.exact);
    }

    #[test]
    fn other_clauses_are_refiltered() {
        let p = push(
            "name = 'm' AND metrics.acc > 0.5 AND current_stage = 'Production'",
            Target::Versions,
            "",
        );
        assert_eq!(p.filter, "name = 'm'");
        assert!(!p.exact);
        let p = push("run_id = 'x'", Target::Models, "");
        assert_eq!(p.filter, "");
        assert!(!p.exact);
        let p = push("name LIKE 'a%'", Target::Models, "");
        assert_eq!(p.filter, "name LIKE 'a%'");
        assert!(!p.exact);
        let p = push("tags.`mlops.digest` = 'x'", Target::Versions, "");
        assert!(!p.exact);
    }

    #[test]
    fn prefix_scopes_and_prefixes_names() {
        let p = push("", Target::Models, "t1-");
        assert_eq!(p.filter, "name LIKE 't1-%'");
        assert!(!p.exact);
        let p = push("name = 'm'", Target::Versions, "t1-");
        assert_eq!(p.filter, "name = 't1-m'");
        assert!(p.exact);
    }

    #[test]
    fn quotes_and_page_params() {
        let p = push("name = \"it's\"", Target::Models, "");
        assert_eq!(p.filter, "name = \"it's\"");
        // A backslash cannot be quoted for the server: the clause is checked here instead.
        let p = push(
            "name = 'a\\\\b' AND tags.team = 'nlp'",
            Target::Versions,
            "",
        );
        assert_eq!(p.filter, "tags.`team` = 'nlp'");
        assert!(!p.exact);
        // ILIKE with non-ASCII letters stays client-side (SQLite folds ASCII only).
        let p = push("name ILIKE 'mod%'", Target::Models, "");
        assert_eq!(p.filter, "name ILIKE 'mod%'");
        let p = push("name ILIKE 'modèle%'", Target::Models, "");
        assert_eq!(p.filter, "");
        assert!(!p.exact);
        let q = PageQuery {
            filter: "name = 'm'".into(),
            max_results: Some(10),
            order_by: vec!["name ASC".into(), "version_number DESC".into()],
            page_token: Some("tok".into()),
        };
        assert_eq!(
            q.params(),
            [
                ("filter", "name = 'm'".to_owned()),
                ("max_results", "10".to_owned()),
                ("order_by", "name ASC".to_owned()),
                ("order_by", "version_number DESC".to_owned()),
                ("page_token", "tok".to_owned()),
            ]
        );
    }
}
