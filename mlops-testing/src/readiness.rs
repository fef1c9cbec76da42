//! The production-readiness checklist: categories of items, a score and a rating.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{EntityKind, Result, TestingError};

/// One checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// What must be true.
    pub description: String,
    /// Whether it is.
    pub passed: bool,
}

/// A category of items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistCategory {
    /// Category name.
    pub name: String,
    /// Its items, in order.
    pub items: Vec<ChecklistItem>,
}

/// A production-readiness checklist for a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    /// Project name.
    pub project: String,
    /// Date of the review (free text, e.g. `2024-01-15`).
    pub date: String,
    /// Categories, in order.
    pub categories: Vec<ChecklistCategory>,
}

const DEFAULT: &[(&str, [&str; 4])] = &[
    (
        "Code and version control",
        [
            "All code is under version control (Git)",
            "Branch protection on main/develop",
            "Pull requests need a code review",
            "A complete .gitignore",
        ],
    ),
    (
        "Data management",
        [
            "Training data is versioned (DVC)",
            "The data schema is documented",
            "A data quality validation step exists",
            "Sensitive data is masked",
        ],
    ),
    (
        "Experiment tracking",
        [
            "Experiments are tracked (MLflow or similar)",
            "Hyper-parameters are fully recorded",
            "Training metrics are visualised",
            "Model artifacts are saved automatically",
        ],
    ),
    (
        "Model management",
        [
            "Models are registered in a registry",
            "Staging and production stages exist",
            "Models have documentation",
            "A model rollback strategy exists",
        ],
    ),
    (
        "CI/CD",
        [
            "Automated unit tests",
            "Model performance regression tests",
            "An automated deployment pipeline",
            "Canary releases",
        ],
    ),
    (
        "Monitoring and alerting",
        [
            "Model performance metrics are monitored",
            "Data drift detection",
            "Resource usage is monitored",
            "Alert notifications are configured",
        ],
    ),
];

impl Checklist {
    /// An empty checklist.
    #[must_use]
    pub fn new(project: impl Into<String>, date: impl Into<String>) -> Self {
        Self {
            project: project.into(),
            date: date.into(),
            categories: Vec::new(),
        }
    }

    /// The MLOps production checklist: six categories of four items, all initially not passed.
    #[must_use]
    pub fn production(project: impl Into<String>, date: impl Into<String>) -> Self {
        let mut c = Self::new(project, date);
        for (name, items) in DEFAULT {
            c.categories.push(ChecklistCategory {
                name: (*name).to_owned(),
                items: items
                    .iter()
                    .map(|d| ChecklistItem {
                        description: (*d).to_owned(),
                        passed: false,
                    })
                    .collect(),
            });
        }
        c
    }

    /// Add a category of items (not passed).
    ///
    /// # Errors
    /// [`TestingError::AlreadyExists`] if the category exists.
    pub fn add_category<S: Into<String>>(
        &mut self,
        name: impl Into<String>,
        items: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        let name = name.into();
        if self.categories.iter().any(|c| c.name == name) {
            return Err(TestingError::AlreadyExists {
                kind: EntityKind::ChecklistCategory,
                id: name,
            });
        }
        self.categories.push(ChecklistCategory {
            name,
            items: items
                .into_iter()
                .map(|d| ChecklistItem {
                    description: d.into(),
                    passed: false,
                })
                .collect(),
        });
        Ok(())
    }

    fn category_mut(&mut self, name: &str) -> Result<&mut ChecklistCategory> {
        self.categories
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| TestingError::NotFound {
                kind: EntityKind::ChecklistCategory,
                id: name.to_owned(),
            })
    }

    /// Set one item, by category and item description.
    ///
    /// # Errors
    /// [`TestingError::NotFound`] for an unknown category or item.
    pub fn set(&mut self, category: &str, item: &str, passed: bool) -> Result<()> {
        let c = self.category_mut(category)?;
        let it = c
            .items
            .iter_mut()
            .find(|i| i.description == item)
            .ok_or_else(|| TestingError::NotFound {
                kind: EntityKind::ChecklistItem,
                id: format!("{category}: {item}"),
            })?;
        it.passed = passed;
        Ok(())
    }

    /// Set every item of a category, in order.
    ///
    /// # Errors
    /// [`TestingError::NotFound`] for an unknown category; [`TestingError::InvalidArgument`] if
    /// the number of results differs from the number of items.
    pub fn set_category(&mut self, category: &str, results: &[bool]) -> Result<()> {
        let c = self.category_mut(category)?;
        if c.items.len() != results.len() {
            return Err(TestingError::invalid(
                "checklist results",
                format!(
                    "category {category} has {} items, {} results given",
                    c.items.len(),
                    results.len()
                ),
            ));
        }
        for (i, &r) in c.items.iter_mut().zip(results) {
            i.passed = r;
        }
        Ok(())
    }

    /// Score the checklist.
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] if the checklist has no items (a score would be 0/0).
    pub fn evaluate(&self) -> Result<ReadinessReport> {
        let total: usize = self.categories.iter().map(|c| c.items.len()).sum();
        if total == 0 {
            return Err(TestingError::invalid(
                "checklist",
                "the checklist has no items",
            ));
        }
        let passed: usize = self
            .categories
            .iter()
            .flat_map(|c| &c.items)
            .filter(|i| i.passed)
            .count();
        #[allow(clippy::cast_precision_loss)]
        let score = passed as f64 / total as f64 * 100.0;
        Ok(ReadinessReport {
            checklist: self.clone(),
            passed,
            total,
            score_percent: score,
            rating: Rating::from_score(score),
        })
    }
}

/// The rating of a score: at least 90% ready, at least 70% mostly ready, otherwise not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// Score ≥ 90%.
    Ready,
    /// 70% ≤ score < 90%.
    MostlyReady,
    /// Score < 70%.
    NotReady,
}

impl Rating {
    /// The rating of a percentage.
    #[must_use]
    pub fn from_score(percent: f64) -> Self {
        if percent >= 90.0 {
            Self::Ready
        } else if percent >= 70.0 {
            Self::MostlyReady
        } else {
            Self::NotReady
        }
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready => "production ready",
            Self::MostlyReady => "mostly ready, complete the items that did not pass",
            Self::NotReady => "not ready, several foundations are missing",
        })
    }
}

/// A scored checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessReport {
    /// The checklist as evaluated.
    pub checklist: Checklist,
    /// Items passed.
    pub passed: usize,
    /// Items in all.
    pub total: usize,
    /// `passed / total` in percent.
    pub score_percent: f64,
    /// The rating.
    pub rating: Rating,
}

impl fmt::Display for ReadinessReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = "=".repeat(60);
        writeln!(f, "{rule}")?;
        writeln!(f, "MLOps production readiness report")?;
        writeln!(f, "Project: {}", self.checklist.project)?;
        writeln!(f, "Date: {}", self.checklist.date)?;
        writeln!(f, "{rule}")?;
        for c in &self.checklist.categories {
            let p = c.items.iter().filter(|i| i.passed).count();
            let status = if p == c.items.len() { "PASS" } else { "WARN" };
            writeln!(f, "\n[{status}] {} ({p}/{})", c.name, c.items.len())?;
            for i in &c.items {
                writeln!(
                    f,
                    "  {} {}",
                    if i.passed { "[+]" } else { "[-]" },
                    i.description
                )?;
            }
        }
        writeln!(f, "\n{rule}")?;
        writeln!(
            f,
            "Score: {}/{} ({:.0}%)",
            self.passed, self.total, self.score_percent
        )?;
        write!(f, "Rating: {}", self.rating)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_scenario_scores_83_percent_mostly_ready() {
        let mut c = Checklist::production("text classification service", "2024-01-15");
        let results: [(&str, [bool; 4]); 6] = [
            ("Code and version control", [true, true, true, true]),
            ("Data management", [true, true, false, true]),
            ("Experiment tracking", [true, true, true, true]),
            ("Model management", [true, true, false, true]),
            ("CI/CD", [true, true, true, false]),
            ("Monitoring and alerting", [true, false, true, true]),
        ];
        for (cat, r) in results {
            c.set_category(cat, &r).unwrap();
        }
        let r = c.evaluate().unwrap();
        assert_eq!((r.passed, r.total), (20, 24));
        assert_eq!(r.rating, Rating::MostlyReady);
        let text = r.to_string();
        assert!(text.contains("[WARN] Data management (3/4)"), "{text}");
        assert!(text.contains("[PASS] Experiment tracking (4/4)"), "{text}");
        assert!(text.contains("Score: 20/24 (83%)"), "{text}");
        let json = serde_json::to_string(&r).unwrap();
        let back: ReadinessReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn rating_thresholds_are_inclusive() {
        assert_eq!(Rating::from_score(90.0), Rating::Ready);
        assert_eq!(Rating::from_score(89.99), Rating::MostlyReady);
        assert_eq!(Rating::from_score(70.0), Rating::MostlyReady);
        assert_eq!(Rating::from_score(69.9), Rating::NotReady);
    }

    #[test]
    fn bad_input() {
        let mut c = Checklist::production("p", "d");
        assert!(c.set_category("CI/CD", &[true]).is_err());
        assert!(c.set_category("Nope", &[true; 4]).is_err());
        assert!(c.set("CI/CD", "no such item", true).is_err());
        c.set("CI/CD", "Canary releases", true).unwrap();
        assert_eq!(c.evaluate().unwrap().passed, 1);
        assert!(Checklist::new("p", "d").evaluate().is_err());
        assert!(c.add_category("CI/CD", ["x"]).is_err());
    }
}
