//! Rendering as YAML: the document tree and the quoting that keeps every scalar a string.

use std::fmt::Write as _;

use super::{EventFilter, StepAction, Workflow};
use crate::error::Result;

impl Workflow {
    /// The workflow as a YAML document tree (what [`Workflow::to_yaml`] renders).
    #[must_use]
    pub fn to_node(&self) -> YamlNode {
        use YamlNode::{Bool, Int, Map, Seq, Str};
        let s = |v: &str| Str(v.to_owned());
        let pairs =
            |v: &[(String, String)]| Map(v.iter().map(|(k, x)| (k.clone(), s(x))).collect());
        let filter = |f: &EventFilter| {
            let mut m = Vec::new();
            if !f.branches.is_empty() {
                m.push((
                    "branches".to_owned(),
                    Seq(f.branches.iter().map(|b| s(b)).collect()),
                ));
            }
            if !f.paths.is_empty() {
                m.push((
                    "paths".to_owned(),
                    Seq(f.paths.iter().map(|b| s(b)).collect()),
                ));
            }
            Map(m)
        };
        let mut on = Vec::new();
        if let Some(f) = &self.triggers.push {
            on.push(("push".to_owned(), filter(f)));
        }
        if let Some(f) = &self.triggers.pull_request {
            on.push(("pull_request".to_owned(), filter(f)));
        }
        if !self.triggers.schedule.is_empty() {
            on.push((
                "schedule".to_owned(),
                Seq(self
                    .triggers
                    .schedule
                    .iter()
                    .map(|c| Map(vec![("cron".to_owned(), s(c))]))
                    .collect()),
            ));
        }
        if self.triggers.workflow_dispatch {
            on.push(("workflow_dispatch".to_owned(), Map(Vec::new())));
        }
        let mut root = vec![
            ("name".to_owned(), s(&self.name)),
            ("on".to_owned(), Map(on)),
        ];
        if !self.env.is_empty() {
            root.push(("env".to_owned(), pairs(&self.env)));
        }
        let mut jobs = Vec::new();
        for j in &self.jobs {
            let mut m = Vec::new();
            if let Some(n) = &j.name {
                m.push(("name".to_owned(), s(n)));
            }
            if !j.needs.is_empty() {
                m.push((
                    "needs".to_owned(),
                    Seq(j.needs.iter().map(|n| s(n)).collect()),
                ));
            }
            if let Some(c) = &j.condition {
                m.push(("if".to_owned(), s(c)));
            }
            let runs_on = if j.runs_on.len() == 1 {
                s(&j.runs_on[0])
            } else {
                Seq(j.runs_on.iter().map(|l| s(l)).collect())
            };
            m.push(("runs-on".to_owned(), runs_on));
            if let Some(t) = j.timeout_minutes {
                m.push(("timeout-minutes".to_owned(), Int(i64::from(t))));
            }
            if !j.env.is_empty() {
                m.push(("env".to_owned(), pairs(&j.env)));
            }
            let steps = j
                .steps
                .iter()
                .map(|st| {
                    let mut sm = Vec::new();
                    if let Some(n) = &st.name {
                        sm.push(("name".to_owned(), s(n)));
                    }
                    if let Some(c) = &st.condition {
                        sm.push(("if".to_owned(), s(c)));
                    }
                    match &st.action {
                        StepAction::Uses { action, with } => {
                            sm.push(("uses".to_owned(), s(action)));
                            if !with.is_empty() {
                                sm.push(("with".to_owned(), pairs(with)));
                            }
                        }
                        StepAction::Run(script) => sm.push(("run".to_owned(), s(script))),
                    }
                    if !st.env.is_empty() {
                        sm.push(("env".to_owned(), pairs(&st.env)));
                    }
                    Map(sm)
                })
                .collect();
            m.push(("steps".to_owned(), Seq(steps)));
            jobs.push((j.id.clone(), Map(m)));
        }
        root.push(("jobs".to_owned(), Map(jobs)));
        let _ = Bool(false);
        Map(root)
    }

    /// Validate and render as YAML.
    ///
    /// # Errors
    /// Those of [`Workflow::validate`].
    pub fn to_yaml(&self) -> Result<String> {
        self.validate()?;
        let mut out = String::new();
        self.to_node().emit_map_body(&mut out, 0);
        Ok(out)
    }
}

/// A YAML document tree with ordered maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlNode {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A sequence.
    Seq(Vec<YamlNode>),
    /// A map with ordered keys.
    Map(Vec<(String, YamlNode)>),
}

impl YamlNode {
    /// The same tree as JSON (maps lose their order), for comparing with a parsed document.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Str(s) => serde_json::Value::String(s.clone()),
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Int(i) => serde_json::Value::from(*i),
            Self::Seq(v) => serde_json::Value::Array(v.iter().map(Self::to_json).collect()),
            Self::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    fn is_scalar(&self) -> bool {
        match self {
            Self::Str(_) | Self::Bool(_) | Self::Int(_) => true,
            Self::Seq(v) => v.is_empty(),
            Self::Map(m) => m.is_empty(),
        }
    }

    fn scalar(&self) -> String {
        match self {
            Self::Str(s) => quote(s),
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Seq(_) => "[]".to_owned(),
            Self::Map(_) => "{}".to_owned(),
        }
    }

    /// Entries of a map, each key at column `col`.
    fn emit_map_body(&self, out: &mut String, col: usize) {
        if let Self::Map(m) = self {
            for (i, (k, v)) in m.iter().enumerate() {
                // The first entry of a sequence item follows "- " on the same line.
                if i > 0 || col == 0 || !out.ends_with("- ") {
                    out.push_str(&" ".repeat(col));
                }
                out.push_str(&quote_key(k));
                out.push(':');
                v.emit_value(out, col);
            }
        }
    }

    /// A value after `key:` whose key is at column `col`.
    fn emit_value(&self, out: &mut String, col: usize) {
        if let Self::Str(s) = self
            && let Some(block) = literal_block(s, col + 2)
        {
            out.push_str(&block);
            return;
        }
        if self.is_scalar() {
            out.push(' ');
            out.push_str(&self.scalar());
            out.push('\n');
            return;
        }
        out.push('\n');
        match self {
            Self::Map(_) => self.emit_map_body(out, col + 2),
            Self::Seq(items) => {
                for it in items {
                    out.push_str(&" ".repeat(col + 2));
                    out.push_str("- ");
                    match it {
                        Self::Map(m) if !m.is_empty() => it.emit_map_body(out, col + 4),
                        Self::Str(s) if s.contains('\n') => {
                            out.push_str(&quote(s));
                            out.push('\n');
                        }
                        _ if it.is_scalar() => {
                            out.push_str(&it.scalar());
                            out.push('\n');
                        }
                        _ => {
                            // A nested sequence: "- " then the items one level deeper.
                            out.pop();
                            out.pop();
                            out.push('-');
                            it.emit_value(out, col + 2);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// A literal block (`|` / `|-`) for a multi-line string, when that represents it exactly.
fn literal_block(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') || s.ends_with("\n\n") || s.chars().any(|c| needs_escape(c) || c == '\r') {
        return None;
    }
    let body = s.strip_suffix('\n');
    let chomp = if body.is_some() { "" } else { "-" };
    let body = body.unwrap_or(s);
    let first = body.lines().find(|l| !l.is_empty())?;
    if first.starts_with(' ') || first.starts_with('\t') {
        return None;
    }
    // Trailing spaces on lines are fine in literal blocks, but whitespace-only lines before the
    // first content line would change the detected indentation.
    if body
        .lines()
        .take_while(|l| !l.trim().is_empty() || l.is_empty())
        .count()
        == 0
    {
        return None;
    }
    let mut out = format!(" |{chomp}\n");
    for line in body.split('\n') {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
            out.push('\n');
        }
    }
    Some(out)
}

fn needs_escape(c: char) -> bool {
    (c < ' ' && c != '\n' && c != '\t')
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf",
];

/// A plain (unquoted) scalar only when it is unambiguous in YAML 1.1 and 1.2.
fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '@'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

fn quote(s: &str) -> String {
    if is_plain_safe(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) || c == '\r' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_key(k: &str) -> String {
    quote(k)
}
