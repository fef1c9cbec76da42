//! A small, real model for the examples: logistic regression trained by full-batch gradient
//! descent on standardised features, with L2 regularisation.

use serde::{Deserialize, Serialize};

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Gradient-descent step size.
    pub learning_rate: f64,
    /// Passes over the training set.
    pub epochs: usize,
    /// L2 penalty on the weights (not the bias).
    pub l2: f64,
}

/// Loss and accuracy after one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean log loss on the training set.
    pub train_loss: f64,
    /// Accuracy (threshold 0.5) on the training set.
    pub train_accuracy: f64,
}

/// A trained logistic-regression model: `p = sigmoid(b + w · (x - mean) / std)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// Names of the input features, in order.
    pub feature_names: Vec<String>,
    /// Per-feature means used to standardise.
    pub mean: Vec<f64>,
    /// Per-feature standard deviations used to standardise (1 where a feature is constant).
    pub std: Vec<f64>,
    /// Weights on the standardised features.
    pub weights: Vec<f64>,
    /// Intercept.
    pub bias: f64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl LogisticModel {
    /// Train on `x` (rows of features, each as wide as `feature_names`) and labels `y`, calling
    /// `on_epoch` after every epoch. Extra row entries are ignored; missing ones count as 0.
    pub fn train(
        feature_names: &[&str],
        x: &[Vec<f64>],
        y: &[bool],
        config: TrainConfig,
        mut on_epoch: impl FnMut(EpochStats),
    ) -> Self {
        let d = feature_names.len();
        #[allow(clippy::cast_precision_loss)]
        let n = x.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        for row in x {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / n;
            }
        }
        let mut std = vec![0.0; d];
        for row in x {
            for ((s, v), m) in std.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m) / n;
            }
        }
        for s in &mut std {
            *s = if *s > 0.0 { s.sqrt() } else { 1.0 };
        }
        let z: Vec<Vec<f64>> = x
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&mean)
                    .zip(&std)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect()
            })
            .collect();
        let mut model = Self {
            feature_names: feature_names.iter().map(|s| (*s).to_owned()).collect(),
            mean,
            std,
            weights: vec![0.0; d],
            bias: 0.0,
        };
        for epoch in 1..=config.epochs {
            let mut grad_w = vec![0.0; d];
            let mut grad_b = 0.0;
            let mut loss = 0.0;
            let mut correct = 0usize;
            for (row, &label) in z.iter().zip(y) {
                let p = sigmoid(model.bias + dot(&model.weights, row));
                let t = f64::from(u8::from(label));
                let err = p - t;
                for (g, v) in grad_w.iter_mut().zip(row) {
                    *g += err * v / n;
                }
                grad_b += err / n;
                let p = p.clamp(1e-15, 1.0 - 1e-15);
                loss -= (t * p.ln() + (1.0 - t) * (1.0 - p).ln()) / n;
                correct += usize::from((p >= 0.5) == label);
            }
            for (w, g) in model.weights.iter_mut().zip(&grad_w) {
                *w -= config.learning_rate * (g + config.l2 * *w);
            }
            model.bias -= config.learning_rate * grad_b;
            #[allow(clippy::cast_precision_loss)]
            on_epoch(EpochStats {
                epoch,
                train_loss: loss,
                train_accuracy: correct as f64 / n,
            });
        }
        model
    }

    /// The churn probability for one row of raw (unstandardised) features.
    #[must_use]
    pub fn predict_proba(&self, x: &[f64]) -> f64 {
        let mut z = self.bias;
        for (((w, v), m), s) in self.weights.iter().zip(x).zip(&self.mean).zip(&self.std) {
            z += w * (v - m) / s;
        }
        sigmoid(z)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_rule_and_loss_falls() {
        // y = x0 > x1, on a grid.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..20 {
            for j in 0..20 {
                x.push(vec![f64::from(i), f64::from(j)]);
                y.push(i > j);
            }
        }
        let mut losses = Vec::new();
        let cfg = TrainConfig {
            learning_rate: 0.5,
            epochs: 200,
            l2: 0.0,
        };
        let m = LogisticModel::train(&["a", "b"], &x, &y, cfg, |s| losses.push(s.train_loss));
        assert!(
            losses[199] < losses[0] * 0.5,
            "{} -> {}",
            losses[0],
            losses[199]
        );
        assert!(m.predict_proba(&[15.0, 2.0]) > 0.9);
        assert!(m.predict_proba(&[2.0, 15.0]) < 0.1);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<LogisticModel>(&json).unwrap(), m);
    }
}
