//! A typed builder for GitHub Actions workflows of ML projects, validated and rendered as YAML.
//!
//! Rendering quotes every string that a YAML 1.1 or 1.2 parser could read as something else
//! (`on`, `yes`, numbers, strings with `:` or `#`, ...), including the `on` key itself, so the
//! same file means the same thing to GitHub, PyYAML and YAML 1.2 parsers. Multi-line `run`
//! scripts are written as literal blocks (`|`) when that is exact, quoted otherwise.
//!
//! ```
//! use mlops_testing::ci_workflow::{EventFilter, Job, Step, Workflow};
//!
//! let wf = Workflow::new("ci")
//!     .on_push(EventFilter::branches(["main"]))
//!     .job(Job::new("test").step(Step::uses("actions/checkout@v4")).step(Step::run("test", "cargo test")))
//!     .job(Job::new("deploy").needs(["test"]).step(Step::run("deploy", "make deploy")));
//! let yaml = wf.to_yaml()?;
//! assert!(yaml.contains("needs:"));
//! assert!(Workflow::new("bad").job(Job::new("a").needs(["missing"])).validate().is_err());
//! # Ok::<(), mlops_testing::TestingError>(())
//! ```

mod model;
mod render;
mod template;
mod validate;

#[cfg(test)]
mod tests;

pub use model::{EventFilter, Job, Step, StepAction, Triggers, Workflow};
pub use render::YamlNode;
