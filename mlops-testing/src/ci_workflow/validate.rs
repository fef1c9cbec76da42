//! Validation of a workflow before it is rendered.

use std::collections::{BTreeMap, BTreeSet};

use super::{StepAction, Workflow};
use crate::error::{Result, TestingError};

impl Workflow {
    /// Check the workflow: a name, at least one trigger and one job, unique well-formed job
    /// ids, `needs` naming existing other jobs without cycles, runner labels, steps.
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] describing the first problem (for a cycle, its path).
    pub fn validate(&self) -> Result<()> {
        let bad = |d: String| Err(TestingError::invalid("workflow", d));
        if self.name.trim().is_empty() {
            return bad("the workflow has no name".into());
        }
        if self.triggers.is_empty() {
            return bad("the workflow has no trigger".into());
        }
        if self.jobs.is_empty() {
            return bad("the workflow has no jobs".into());
        }
        let mut ids = BTreeSet::new();
        for j in &self.jobs {
            let valid_id =
                j.id.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && j.id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_id {
                return bad(format!(
                    "job id {:?} must start with a letter or _ and contain only letters, digits, - and _",
                    j.id
                ));
            }
            if !ids.insert(j.id.as_str()) {
                return bad(format!("job id {} is used twice", j.id));
            }
        }
        for j in &self.jobs {
            for n in &j.needs {
                if n == &j.id {
                    return bad(format!("job {} needs itself", j.id));
                }
                if !ids.contains(n.as_str()) {
                    return bad(format!("job {} needs unknown job {n}", j.id));
                }
            }
            if j.runs_on.is_empty() || j.runs_on.iter().any(|l| l.trim().is_empty()) {
                return bad(format!("job {} has no runner label", j.id));
            }
            if j.steps.is_empty() {
                return bad(format!("job {} has no steps", j.id));
            }
            for (i, s) in j.steps.iter().enumerate() {
                let empty = match &s.action {
                    StepAction::Uses { action, .. } => action.trim().is_empty(),
                    StepAction::Run(script) => script.trim().is_empty(),
                };
                if empty {
                    return bad(format!("job {} step {i} has nothing to do", j.id));
                }
            }
            for (k, _) in j.env.iter().chain(&self.env) {
                if k.is_empty() {
                    return bad(format!(
                        "job {} has an empty environment variable name",
                        j.id
                    ));
                }
            }
        }
        if let Some(cycle) = self.find_cycle() {
            return bad(format!("jobs form a cycle: {}", cycle.join(" -> ")));
        }
        Ok(())
    }

    fn find_cycle(&self) -> Option<Vec<String>> {
        let graph: BTreeMap<&str, &[String]> = self
            .jobs
            .iter()
            .map(|j| (j.id.as_str(), j.needs.as_slice()))
            .collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            node: &'a str,
            graph: &BTreeMap<&'a str, &'a [String]>,
            state: &mut BTreeMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            state.insert(node, 1);
            stack.push(node);
            for next in graph.get(node).copied().unwrap_or_default() {
                match state.get(next.as_str()).copied().unwrap_or(0) {
                    1 => {
                        let start = stack.iter().position(|s| *s == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[start..].iter().map(|s| (*s).to_owned()).collect();
                        cycle.push(next.clone());
                        return Some(cycle);
                    }
                    0 => {
                        if let Some(c) = visit(next.as_str(), graph, state, stack) {
                            return Some(c);
                        }
                    }
                    _ => {}
                }
            }
            stack.pop();
            state.insert(node, 2);
            None
        }
        for j in &self.jobs {
            if state.get(j.id.as_str()).copied().unwrap_or(0) == 0 {
                let mut stack = Vec::new();
                if let Some(c) = visit(&j.id, &graph, &mut state, &mut stack) {
                    return Some(c);
                }
            }
        }
        None
    }
}
