//! Model metrics from labels and predictions, as scikit-learn computes them.
//!
//! Inputs are validated: empty inputs, mismatched lengths, NaN or infinite values and (for
//! ROC AUC and log loss) a single class are errors, never a NaN result. Where scikit-learn
//! divides by zero (a class never predicted), the result is 0, as with `zero_division=0`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TestingError};

fn check_lengths(a: usize, b: usize, what: &'static str) -> Result<()> {
    if a != b {
        return Err(TestingError::invalid(
            what,
            format!("{a} labels but {b} predictions"),
        ));
    }
    if a == 0 {
        return Err(TestingError::invalid(what, "no samples"));
    }
    Ok(())
}

fn check_finite(values: &[f64], what: &'static str) -> Result<()> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(TestingError::invalid(
            what,
            format!("value at index {i} is {}", values[i]),
        ));
    }
    Ok(())
}

/// Fraction of predictions equal to the label (`sklearn.metrics.accuracy_score`).
///
/// # Errors
/// [`TestingError::InvalidArgument`] for empty or mismatched inputs.
pub fn accuracy<T: PartialEq>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    check_lengths(y_true.len(), y_pred.len(), "labels")?;
    let correct = y_true.iter().zip(y_pred).filter(|(a, b)| a == b).count();
    #[allow(clippy::cast_precision_loss)]
    Ok(correct as f64 / y_true.len() as f64)
}

/// A confusion matrix over the sorted union of labels: `matrix[i][j]` counts samples whose true
/// label is `labels[i]` and predicted label is `labels[j]` (scikit-learn's layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix<T> {
    /// The labels, sorted.
    pub labels: Vec<T>,
    /// Rows: true label; columns: predicted label.
    pub matrix: Vec<Vec<u64>>,
}

impl<T: Ord + Clone> ConfusionMatrix<T> {
    /// Count labels against predictions.
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] for empty or mismatched inputs.
    pub fn new(y_true: &[T], y_pred: &[T]) -> Result<Self> {
        check_lengths(y_true.len(), y_pred.len(), "labels")?;
        let mut index: BTreeMap<T, usize> = BTreeMap::new();
        for l in y_true.iter().chain(y_pred) {
            index.entry(l.clone()).or_insert(0);
        }
        for (i, v) in index.values_mut().enumerate() {
            *v = i;
        }
        let k = index.len();
        let mut matrix = vec![vec![0u64; k]; k];
        for (t, p) in y_true.iter().zip(y_pred) {
            matrix[index[t]][index[p]] += 1;
        }
        Ok(Self {
            labels: index.into_keys().collect(),
            matrix,
        })
    }

    fn support(&self, i: usize) -> u64 {
        self.matrix[i].iter().sum()
    }

    fn predicted(&self, j: usize) -> u64 {
        self.matrix.iter().map(|r| r[j]).sum()
    }

    fn total(&self) -> u64 {
        self.matrix.iter().flatten().sum()
    }
}

impl<T: fmt::Display> fmt::Display for ConfusionMatrix<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.labels.iter().map(ToString::to_string).collect();
        let w = names
            .iter()
            .map(String::len)
            .chain(self.matrix.iter().flatten().map(|c| c.to_string().len()))
            .max()
            .unwrap_or(1)
            .max(9);
        write!(f, "{:>w$}", "true\\pred")?;
        for n in &names {
            write!(f, " {n:>w$}")?;
        }
        for (n, row) in names.iter().zip(&self.matrix) {
            write!(f, "\n{n:>w$}")?;
            for c in row {
                write!(f, " {c:>w$}")?;
            }
        }
        Ok(())
    }
}

/// How per-class scores are combined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Average<T> {
    /// Only the given positive class (scikit-learn's `average='binary'`, `pos_label`).
    Binary(T),
    /// Unweighted mean over classes.
    Macro,
    /// Global counts of true positives, false positives and false negatives.
    Micro,
    /// Mean over classes weighted by support.
    Weighted,
}

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrecisionRecallF1 {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1 score.
    pub f1: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn f1_from_counts(tp: u64, fp: u64, fn_: u64) -> f64 {
    // scikit-learn computes F1 as 2 tp / (2 tp + fp + fn), 0 when the denominator is 0.
    ratio(2 * tp, 2 * tp + fp + fn_)
}

/// Precision, recall and F1 with the given averaging (`sklearn.metrics.precision_score`, ...,
/// with `zero_division=0`).
///
/// # Errors
/// [`TestingError::InvalidArgument`] for empty or mismatched inputs, or a `Binary` positive label
/// absent from both labels and predictions.
pub fn precision_recall_f1<T: Ord + Clone + fmt::Debug>(
    y_true: &[T],
    y_pred: &[T],
    average: &Average<T>,
) -> Result<PrecisionRecallF1> {
    let cm = ConfusionMatrix::new(y_true, y_pred)?;
    let k = cm.labels.len();
    let counts = |i: usize| {
        let tp = cm.matrix[i][i];
        (tp, cm.predicted(i) - tp, cm.support(i) - tp)
    };
    Ok(match average {
        Average::Binary(pos) => {
            let Some(i) = cm.labels.iter().position(|l| l == pos) else {
                return Err(TestingError::invalid(
                    "labels",
                    format!("positive label {pos:?} does not occur"),
                ));
            };
            let (tp, fp, fn_) = counts(i);
            PrecisionRecallF1 {
                precision: ratio(tp, tp + fp),
                recall: ratio(tp, tp + fn_),
                f1: f1_from_counts(tp, fp, fn_),
            }
        }
        Average::Micro => {
            let (mut tp, mut fp, mut fn_) = (0, 0, 0);
            for i in 0..k {
                let c = counts(i);
                tp += c.0;
                fp += c.1;
                fn_ += c.2;
            }
            PrecisionRecallF1 {
                precision: ratio(tp, tp + fp),
                recall: ratio(tp, tp + fn_),
                f1: f1_from_counts(tp, fp, fn_),
            }
        }
        Average::Macro | Average::Weighted => {
            let total = cm.total();
            let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
            for i in 0..k {
                let (tp, fp, fn_) = counts(i);
                #[allow(clippy::cast_precision_loss)]
                let w = if *average == Average::Macro {
                    1.0 / k as f64
                } else {
                    cm.support(i) as f64 / total as f64
                };
                p += w * ratio(tp, tp + fp);
                r += w * ratio(tp, tp + fn_);
                f += w * f1_from_counts(tp, fp, fn_);
            }
            PrecisionRecallF1 {
                precision: p,
                recall: r,
                f1: f,
            }
        }
    })
}

/// Area under the ROC curve from binary labels and scores (`sklearn.metrics.roc_auc_score`),
/// computed as the Mann-Whitney statistic with tied scores given their average rank (a tie
/// between a positive and a negative counts one half).
///
/// # Errors
/// [`TestingError::InvalidArgument`] for empty or mismatched inputs, non-finite scores, or labels
/// of a single class (AUC is undefined).
pub fn roc_auc(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    check_lengths(y_true.len(), scores.len(), "labels")?;
    check_finite(scores, "scores")?;
    let pos = y_true.iter().filter(|&&b| b).count();
    let neg = y_true.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(TestingError::invalid(
            "labels",
            "only one class is present, ROC AUC is undefined",
        ));
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0_f64;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        #[allow(clippy::cast_precision_loss)]
        let avg = (i + j + 2) as f64 / 2.0;
        for &k in &idx[i..=j] {
            if y_true[k] {
                rank_sum_pos += avg;
            }
        }
        i = j + 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let (p, n) = (pos as f64, neg as f64);
    Ok((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean binary cross-entropy (`sklearn.metrics.log_loss` with 1-d probabilities of the positive
/// class); probabilities are clipped to `[eps, 1 - eps]` with `eps = f64::EPSILON`, as
/// scikit-learn does.
///
/// # Errors
/// [`TestingError::InvalidArgument`] for empty or mismatched inputs, probabilities outside
/// `[0, 1]` or not finite, or labels of a single class.
pub fn log_loss(y_true: &[bool], probabilities: &[f64]) -> Result<f64> {
    check_lengths(y_true.len(), probabilities.len(), "labels")?;
    check_finite(probabilities, "probabilities")?;
    if let Some(i) = probabilities.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(TestingError::invalid(
            "probabilities",
            format!("value at index {i} is {}, outside [0, 1]", probabilities[i]),
        ));
    }
    let pos = y_true.iter().filter(|&&b| b).count();
    if pos == 0 || pos == y_true.len() {
        return Err(TestingError::invalid(
            "labels",
            "only one class is present; log loss needs both classes",
        ));
    }
    let eps = f64::EPSILON;
    let total: f64 = y_true
        .iter()
        .zip(probabilities)
        .map(|(&y, &p)| {
            let q = if y { p } else { 1.0 - p };
            -q.clamp(eps, 1.0 - eps).ln()
        })
        .sum();
    #[allow(clippy::cast_precision_loss)]
    Ok(total / y_true.len() as f64)
}

/// Mean absolute error.
///
/// # Errors
/// [`TestingError::InvalidArgument`] for empty or mismatched inputs or non-finite values.
pub fn mae(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression(y_true, y_pred)?;
    let s: f64 = y_true.iter().zip(y_pred).map(|(a, b)| (a - b).abs()).sum();
    #[allow(clippy::cast_precision_loss)]
    Ok(s / y_true.len() as f64)
}

/// Root mean squared error.
///
/// # Errors
/// [`TestingError::InvalidArgument`] for empty or mismatched inputs or non-finite values.
pub fn rmse(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression(y_true, y_pred)?;
    let s: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    #[allow(clippy::cast_precision_loss)]
    Ok((s / y_true.len() as f64).sqrt())
}

/// Coefficient of determination (`sklearn.metrics.r2_score`). With constant labels the
/// denominator is zero and, as scikit-learn's default `force_finite=True`, the score is 1 for a
/// perfect prediction and 0 otherwise.
///
/// # Errors
/// [`TestingError::InvalidArgument`] for empty or mismatched inputs or non-finite values.
pub fn r2(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression(y_true, y_pred)?;
    #[allow(clippy::cast_precision_loss)]
    let mean = y_true.iter().sum::<f64>() / y_true.len() as f64;
    let ss_res: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    let ss_tot: f64 = y_true.iter().map(|a| (a - mean) * (a - mean)).sum();
    if ss_tot == 0.0 {
        return Ok(if ss_res == 0.0 { 1.0 } else { 0.0 });
    }
    Ok(1.0 - ss_res / ss_tot)
}

fn check_regression(y_true: &[f64], y_pred: &[f64]) -> Result<()> {
    check_lengths(y_true.len(), y_pred.len(), "targets")?;
    check_finite(y_true, "targets")?;
    check_finite(y_pred, "predictions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_errors() {
        assert!(accuracy::<i32>(&[], &[]).is_err());
        assert!(accuracy(&[1, 2], &[1]).is_err());
        let e = roc_auc(&[true, true], &[0.1, 0.2]).unwrap_err();
        assert!(e.to_string().contains("one class"), "{e}");
        assert!(roc_auc(&[true, false], &[0.1, f64::NAN]).is_err());
        assert!(log_loss(&[true, false], &[1.2, 0.1]).is_err());
        assert!(log_loss(&[false, false], &[0.2, 0.1]).is_err());
        assert!(mae(&[1.0, f64::INFINITY], &[1.0, 2.0]).is_err());
        assert!(rmse(&[1.0], &[1.0, 2.0]).is_err());
        assert!(precision_recall_f1(&[0, 1], &[0, 1], &Average::Binary(7)).is_err());
    }

    #[test]
    fn constant_targets_follow_force_finite() {
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 2.0]).unwrap(), 1.0);
        assert_eq!(r2(&[2.0, 2.0], &[1.0, 2.0]).unwrap(), 0.0);
    }

    #[test]
    fn perfect_and_inverted_auc() {
        assert_eq!(roc_auc(&[false, true], &[0.1, 0.9]).unwrap(), 1.0);
        assert_eq!(roc_auc(&[false, true], &[0.9, 0.1]).unwrap(), 0.0);
        assert_eq!(roc_auc(&[false, true], &[0.5, 0.5]).unwrap(), 0.5);
    }

    #[test]
    fn confusion_matrix_display() {
        let cm = ConfusionMatrix::new(&[0, 1, 1], &[0, 0, 1]).unwrap();
        assert_eq!(cm.matrix, vec![vec![1, 0], vec![1, 1]]);
        let s = cm.to_string();
        assert!(s.contains("true\\pred"), "{s}");
    }
}
