//! Column and dataset drift with Evidently's defaults.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{EntityKind, Result, TestingError};
use crate::human;
use crate::ks::{KsMethod, ks_2samp_sorted};
use crate::stattests::{
    PARALLEL_MIN, binned_numeric, chisquare, fill_zeroes, jensenshannon, proportions_ztest,
    psi_from_shares, sorted_finite, wasserstein_sorted,
};

/// One column of a [`Dataset`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "values")]
pub enum Column {
    /// Numeric values; NaN and infinities are dropped (and counted) before a test.
    Numeric(Vec<f64>),
    /// Category labels; `None` is a missing value, dropped (and counted) before a test.
    Categorical(Vec<Option<String>>),
}

impl Column {
    /// Number of values, missing ones included.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Numeric(v) => v.len(),
            Self::Categorical(v) => v.len(),
        }
    }

    /// Whether the column has no values.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column's kind.
    #[must_use]
    pub fn kind(&self) -> ColumnKind {
        match self {
            Self::Numeric(_) => ColumnKind::Numeric,
            Self::Categorical(_) => ColumnKind::Categorical,
        }
    }
}

/// A column as the drift tests read it: numeric values as a slice (borrowed where the source
/// holds `f64`s, e.g. an Arrow array without nulls), labels as string slices with the count of
/// missing ones.
pub(crate) enum ColumnRef<'a> {
    Numeric(Cow<'a, [f64]>),
    Categorical {
        labels: Vec<&'a str>,
        missing: usize,
    },
}

impl ColumnRef<'_> {
    fn kind(&self) -> ColumnKind {
        match self {
            Self::Numeric(_) => ColumnKind::Numeric,
            Self::Categorical { .. } => ColumnKind::Categorical,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Numeric(v) => v.len(),
            Self::Categorical { labels, missing } => labels.len() + missing,
        }
    }
}

impl<'a> From<&'a Column> for ColumnRef<'a> {
    fn from(c: &'a Column) -> Self {
        match c {
            Column::Numeric(v) => Self::Numeric(Cow::Borrowed(v)),
            Column::Categorical(v) => {
                let labels: Vec<&str> = v.iter().filter_map(Option::as_deref).collect();
                let missing = v.len() - labels.len();
                Self::Categorical { labels, missing }
            }
        }
    }
}

/// Numeric or categorical, as Evidently's column types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Numbers.
    Numeric,
    /// Labels.
    Categorical,
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Numeric => "num",
            Self::Categorical => "cat",
        })
    }
}

/// Named columns, in insertion order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    columns: Vec<(String, Column)>,
}

impl Dataset {
    /// An empty dataset.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a column (builder style).
    ///
    /// # Errors
    /// [`TestingError::AlreadyExists`] if the name is taken.
    pub fn with_column(mut self, name: impl Into<String>, column: Column) -> Result<Self> {
        self.insert(name, column)?;
        Ok(self)
    }

    /// Add a column.
    ///
    /// # Errors
    /// [`TestingError::AlreadyExists`] if the name is taken.
    pub fn insert(&mut self, name: impl Into<String>, column: Column) -> Result<()> {
        let name = name.into();
        if self.get(&name).is_some() {
            return Err(TestingError::AlreadyExists {
                kind: EntityKind::Column,
                id: name,
            });
        }
        self.columns.push((name, column));
        Ok(())
    }

    /// The column called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// Column names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(n, _)| n.as_str())
    }

    /// `(name, column)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Column)> {
        self.columns.iter().map(|(n, c)| (n.as_str(), c))
    }
}

/// A drift test, by Evidently's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftMethod {
    /// Two-sample Kolmogorov-Smirnov (`ks`), numeric only; scores the p-value,
    /// drift when `p <= threshold` (default 0.05).
    Ks,
    /// Chi-square goodness-of-fit of current counts against reference proportions (`chisquare`);
    /// drift when `p < threshold` (default 0.05).
    ChiSquare,
    /// Two-proportion Z-test (`z`) on the share of the first (sorted) category;
    /// drift when `p < threshold` (default 0.05).
    ZTest,
    /// Wasserstein distance normalised by the reference's population standard deviation
    /// (floored at 0.001) (`wasserstein`), numeric only; drift when `score >= threshold`
    /// (default 0.1).
    Wasserstein,
    /// Jensen-Shannon distance (natural log) between binned shares (`jensenshannon`), without
    /// smoothing; drift when `score >= threshold` (default 0.1).
    JensenShannon,
    /// Population stability index (`psi`) over binned shares with empty bins smoothed; drift when
    /// `score >= threshold` (default 0.1).
    ///
    /// Binning (Evidently's `get_binned_data`): a numeric column whose reference has more than 20
    /// distinct values is cut into `numpy.histogram_bin_edges(reference ++ current, "sturges")`
    /// bins; any other column gets one bin per distinct value. Smoothing: in each sample, an empty
    /// bin's share becomes `min(non-zero share) / 1e6` if that minimum is at most `1e-4`, else `1e-4`.
    Psi,
}

impl DriftMethod {
    /// Evidently's default threshold for the method.
    #[must_use]
    pub fn default_threshold(self) -> f64 {
        match self {
            Self::Ks | Self::ChiSquare | Self::ZTest => 0.05,
            Self::Wasserstein | Self::JensenShannon | Self::Psi => 0.1,
        }
    }

    /// Whether the score is a p-value (drift when small) rather than a distance (drift when large).
    #[must_use]
    pub fn is_p_value(self) -> bool {
        matches!(self, Self::Ks | Self::ChiSquare | Self::ZTest)
    }

    /// Evidently's name of the test.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ks => "ks",
            Self::ChiSquare => "chisquare",
            Self::ZTest => "z",
            Self::Wasserstein => "wasserstein",
            Self::JensenShannon => "jensenshannon",
            Self::Psi => "psi",
        }
    }

    fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            Self::Ks => score <= threshold,
            Self::ChiSquare | Self::ZTest => score < threshold,
            Self::Wasserstein | Self::JensenShannon | Self::Psi => score >= threshold,
        }
    }
}

impl fmt::Display for DriftMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-column choice of method and threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ColumnDriftOptions {
    /// The method; `None` picks Evidently's default.
    pub method: Option<DriftMethod>,
    /// The threshold; `None` uses the method's default.
    pub threshold: Option<f64>,
}

impl ColumnDriftOptions {
    /// Use `method`.
    #[must_use]
    pub fn method(method: DriftMethod) -> Self {
        Self {
            method: Some(method),
            threshold: None,
        }
    }

    /// Use `threshold`.
    #[must_use]
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = Some(threshold);
        self
    }
}

/// Options of [`drift_report`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriftOptions {
    /// Share of drifted columns at or above which the dataset drifts (Evidently: 0.5).
    pub drift_share: f64,
    /// Method and threshold for every column without an override.
    pub all_columns: ColumnDriftOptions,
    /// Per-column overrides, by column name.
    pub columns: BTreeMap<String, ColumnDriftOptions>,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self {
            drift_share: 0.5,
            all_columns: ColumnDriftOptions::default(),
            columns: BTreeMap::new(),
        }
    }
}

impl DriftOptions {
    /// Override the method and threshold of one column.
    #[must_use]
    pub fn with_column(mut self, name: impl Into<String>, options: ColumnDriftOptions) -> Self {
        self.columns.insert(name.into(), options);
        self
    }

    /// Set the dataset drift share.
    #[must_use]
    pub fn with_drift_share(mut self, share: f64) -> Self {
        self.drift_share = share;
        self
    }
}

/// Evidently's default test for a column: with at most 1,000 reference values, KS for a numeric
/// column with more than 5 distinct values (reference and current together), else chi-square with
/// more than 2 distinct values, else the Z-test; with more reference values, Wasserstein for a
/// numeric column with more than 5 distinct values, else Jensen-Shannon.
#[must_use]
pub fn default_method(
    kind: ColumnKind,
    reference_len: usize,
    distinct_values: usize,
) -> DriftMethod {
    let numeric_many = kind == ColumnKind::Numeric && distinct_values > 5;
    if reference_len <= 1000 {
        if numeric_many {
            DriftMethod::Ks
        } else if distinct_values > 2 {
            DriftMethod::ChiSquare
        } else {
            DriftMethod::ZTest
        }
    } else if numeric_many {
        DriftMethod::Wasserstein
    } else {
        DriftMethod::JensenShannon
    }
}

/// Drift of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    /// Column name.
    pub column: String,
    /// Numeric or categorical.
    pub kind: ColumnKind,
    /// The test used.
    pub method: DriftMethod,
    /// p-value or distance, see [`DriftMethod`].
    pub score: f64,
    /// The test statistic where it differs from the score (KS `D`, chi-square, `z`). The `z` of
    /// the two-proportion test is current minus reference (positive when the first category's
    /// share grew), the sign scipy's two-sample tests use; Evidently reports the opposite sign.
    pub statistic: Option<f64>,
    /// The threshold compared with the score.
    pub threshold: f64,
    /// Whether the column drifted.
    pub drift_detected: bool,
    /// Values used from the reference.
    pub reference_count: usize,
    /// Values used from the current data.
    pub current_count: usize,
    /// Reference values dropped (NaN, infinite or missing).
    pub reference_dropped: usize,
    /// Current values dropped (NaN, infinite or missing).
    pub current_dropped: usize,
}

/// Drift of a dataset: every column and the drifted share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// One entry per reference column, in order.
    pub columns: Vec<ColumnDrift>,
    /// Number of drifted columns.
    pub drifted_columns: usize,
    /// `drifted_columns / columns`.
    pub share_drifted: f64,
    /// The threshold share.
    pub drift_share: f64,
    /// `share_drifted >= drift_share`.
    pub dataset_drift: bool,
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .columns
            .iter()
            .map(|c| c.column.len())
            .max()
            .unwrap_or(6)
            .max(6);
        writeln!(
            f,
            "{:<w$}  {:<4}  {:<13}  {:>12}  {:>9}  drift",
            "column", "type", "method", "score", "threshold"
        )?;
        for c in &self.columns {
            writeln!(
                f,
                "{:<w$}  {:<4}  {:<13}  {:>12}  {:>9}  {}",
                c.column,
                c.kind.to_string(),
                c.method.name(),
                human::number(c.score),
                human::number(c.threshold),
                if c.drift_detected { "DRIFT" } else { "ok" }
            )?;
        }
        write!(
            f,
            "dataset drift: {} ({} of {} columns, share {}, threshold {})",
            if self.dataset_drift { "YES" } else { "no" },
            self.drifted_columns,
            self.columns.len(),
            human::number(self.share_drifted),
            human::number(self.drift_share)
        )
    }
}

/// Aligned category counts of two samples over the sorted union of their values.
struct Counts {
    reference: Vec<u64>,
    current: Vec<u64>,
}

fn counts_from_keys<K: Ord + std::hash::Hash + Eq + Clone>(
    reference: impl Iterator<Item = K>,
    current: impl Iterator<Item = K>,
) -> Counts {
    let mut map: HashMap<K, (u64, u64)> = HashMap::new();
    for k in reference {
        map.entry(k).or_default().0 += 1;
    }
    for k in current {
        map.entry(k).or_default().1 += 1;
    }
    let mut entries: Vec<(K, (u64, u64))> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Counts {
        reference: entries.iter().map(|e| e.1.0).collect(),
        current: entries.iter().map(|e| e.1.1).collect(),
    }
}

/// Total-order key of a finite float, with -0.0 folded into 0.0.
fn float_key(v: f64) -> i64 {
    let v = if v == 0.0 { 0.0 } else { v };
    let bits = v.to_bits().cast_signed();
    // Map IEEE order to integer order.
    if bits < 0 { bits ^ i64::MAX } else { bits }
}

enum Prepared<'a> {
    Numeric { x: Vec<f64>, y: Vec<f64> },
    Categorical { x: &'a [&'a str], y: &'a [&'a str] },
}

impl Prepared<'_> {
    fn counts(&self) -> Counts {
        match self {
            Self::Numeric { x, y } => counts_from_keys(
                x.iter().map(|&v| float_key(v)),
                y.iter().map(|&v| float_key(v)),
            ),
            Self::Categorical { x, y } => counts_from_keys(x.iter().copied(), y.iter().copied()),
        }
    }

    fn distinct(&self) -> usize {
        match self {
            Self::Numeric { x, y } => distinct_in_union(x, y),
            Self::Categorical { .. } => self.counts().reference.len(),
        }
    }

    fn shares(&self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Self::Numeric { x, y } => binned_numeric(x, y),
            Self::Categorical { x, y } => {
                let c = self.counts();
                #[allow(clippy::cast_precision_loss)]
                let (fx, fy) = (x.len() as f64, y.len() as f64);
                #[allow(clippy::cast_precision_loss)]
                (
                    c.reference.iter().map(|&v| v as f64 / fx).collect(),
                    c.current.iter().map(|&v| v as f64 / fy).collect(),
                )
            }
        }
    }
}

/// Drift of one column pair with the given method (or Evidently's default) and threshold.
///
/// # Errors
/// [`TestingError::InvalidArgument`] if the two columns are of different kinds, a sample has no
/// usable values, the threshold is not finite (or, for p-value tests, outside `[0, 1]`), or a
/// numeric-only method is asked of a categorical column.
pub fn column_drift(
    name: &str,
    reference: &Column,
    current: &Column,
    options: ColumnDriftOptions,
) -> Result<ColumnDrift> {
    column_drift_ref(name, &reference.into(), &current.into(), options)
}

/// [`column_drift`] of borrowed columns.
pub(crate) fn column_drift_ref(
    name: &str,
    reference: &ColumnRef<'_>,
    current: &ColumnRef<'_>,
    options: ColumnDriftOptions,
) -> Result<ColumnDrift> {
    let kind = reference.kind();
    if current.kind() != kind {
        return Err(TestingError::invalid(
            "column",
            format!(
                "column {name} is {kind} in the reference and {} in the current data",
                current.kind()
            ),
        ));
    }
    let (prepared, rd, cd) = match (reference, current) {
        (ColumnRef::Numeric(a), ColumnRef::Numeric(b)) => {
            let parallel = a.len().min(b.len()) >= PARALLEL_MIN;
            let ((x, rd), (y, cd)) =
                crate::par::join(parallel, || sorted_finite(a), || sorted_finite(b));
            (Prepared::Numeric { x, y }, rd, cd)
        }
        (
            ColumnRef::Categorical {
                labels: x,
                missing: rd,
            },
            ColumnRef::Categorical {
                labels: y,
                missing: cd,
            },
        ) => (Prepared::Categorical { x, y }, *rd, *cd),
        _ => unreachable!("kinds checked above"),
    };
    let (nx, ny) = match &prepared {
        Prepared::Numeric { x, y } => (x.len(), y.len()),
        Prepared::Categorical { x, y } => (x.len(), y.len()),
    };
    if nx == 0 || ny == 0 {
        return Err(TestingError::invalid(
            "sample",
            format!(
                "column {name} has no usable values in the {} ({} dropped as missing, NaN or infinite)",
                if nx == 0 { "reference" } else { "current data" },
                if nx == 0 { rd } else { cd }
            ),
        ));
    }
    let method = match options.method {
        Some(m) => m,
        None => default_method(kind, nx, prepared.distinct()),
    };
    let threshold = options.threshold.unwrap_or(method.default_threshold());
    if !threshold.is_finite() || threshold < 0.0 || (method.is_p_value() && threshold > 1.0) {
        return Err(TestingError::invalid(
            "threshold",
            format!("column {name}: threshold {threshold} is out of range for {method}"),
        ));
    }
    let (score, statistic) = match method {
        DriftMethod::Ks | DriftMethod::Wasserstein => {
            let Prepared::Numeric { x, y } = &prepared else {
                return Err(TestingError::invalid(
                    "method",
                    format!("{method} needs a numeric column, {name} is categorical"),
                ));
            };
            if method == DriftMethod::Ks {
                let r = ks_2samp_sorted(x, y, KsMethod::Auto, rd, cd);
                (r.p_value, Some(r.statistic))
            } else {
                let norm = population_std(x).max(0.001);
                (wasserstein_sorted(x, y) / norm, None)
            }
        }
        DriftMethod::ChiSquare => {
            let c = prepared.counts();
            #[allow(clippy::cast_precision_loss)]
            let k = ny as f64 / nx as f64;
            #[allow(clippy::cast_precision_loss)]
            let observed: Vec<f64> = c.current.iter().map(|&v| v as f64).collect();
            #[allow(clippy::cast_precision_loss)]
            let expected: Vec<f64> = c.reference.iter().map(|&v| v as f64 * k).collect();
            if observed.len() < 2 {
                (1.0, Some(0.0))
            } else {
                let t = chisquare(&observed, &expected)?;
                (t.p_value, Some(t.statistic))
            }
        }
        DriftMethod::ZTest => {
            let c = prepared.counts();
            if c.reference.len() < 2 {
                (1.0, Some(0.0))
            } else {
                // current - reference, the sign scipy's two-sample tests report (see
                // `proportions_ztest`); Evidently computes reference - current.
                let t = proportions_ztest(c.current[0], ny as u64, c.reference[0], nx as u64)?;
                (t.p_value, Some(t.statistic))
            }
        }
        DriftMethod::JensenShannon => {
            let (r, c) = prepared.shares();
            (jensenshannon(&r, &c)?, None)
        }
        DriftMethod::Psi => {
            let (mut r, mut c) = prepared.shares();
            fill_zeroes(&mut r);
            fill_zeroes(&mut c);
            (psi_from_shares(&r, &c), None)
        }
    };
    Ok(ColumnDrift {
        column: name.to_owned(),
        kind,
        method,
        score,
        statistic,
        threshold,
        drift_detected: method.drifted(score, threshold),
        reference_count: nx,
        current_count: ny,
        reference_dropped: rd,
        current_dropped: cd,
    })
}

/// Distinct values in the union of two sorted samples (-0.0 and 0.0 are one value).
fn distinct_in_union(x: &[f64], y: &[f64]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < x.len() || j < y.len() {
        let v = if j == y.len() || (i < x.len() && x[i] <= y[j]) {
            x[i]
        } else {
            y[j]
        };
        n += 1;
        while i < x.len() && x[i] == v {
            i += 1;
        }
        while j < y.len() && y[j] == v {
            j += 1;
        }
    }
    n
}

#[allow(clippy::cast_precision_loss)]
fn population_std(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    var.sqrt()
}

/// Drift of every reference column against the same column of `current`, and the dataset verdict.
///
/// # Errors
/// [`TestingError::NotFound`] if `current` lacks a reference column or an override names an
/// unknown column; [`TestingError::InvalidArgument`] for an empty reference, a drift share
/// outside `(0, 1]`, or any error of [`column_drift`].
pub fn drift_report(
    reference: &Dataset,
    current: &Dataset,
    options: &DriftOptions,
) -> Result<DriftReport> {
    let reference: Vec<(&str, ColumnRef<'_>)> =
        reference.iter().map(|(n, c)| (n, c.into())).collect();
    drift_report_with(
        reference,
        |n| Ok(current.get(n).map(ColumnRef::from)),
        options,
    )
}

/// [`drift_report`] of borrowed reference columns and a lookup of the current ones (an error
/// of the lookup, e.g. an unsupported column type, is returned as is).
pub(crate) fn drift_report_with<'a>(
    reference: Vec<(&str, ColumnRef<'a>)>,
    current: impl Fn(&str) -> Result<Option<ColumnRef<'a>>>,
    options: &DriftOptions,
) -> Result<DriftReport> {
    if !(options.drift_share > 0.0 && options.drift_share <= 1.0) {
        return Err(TestingError::invalid(
            "threshold",
            format!("drift share {} is outside (0, 1]", options.drift_share),
        ));
    }
    if reference.is_empty() {
        return Err(TestingError::invalid(
            "dataset",
            "the reference has no columns",
        ));
    }
    if let Some(name) = options
        .columns
        .keys()
        .find(|n| !reference.iter().any(|(r, _)| r == n))
    {
        return Err(TestingError::NotFound {
            kind: EntityKind::Column,
            id: name.clone(),
        });
    }
    let mut pairs = Vec::with_capacity(reference.len());
    for (name, rc) in reference {
        let cc = current(name)?.ok_or_else(|| TestingError::NotFound {
            kind: EntityKind::Column,
            id: name.to_owned(),
        })?;
        let mut opts = options.all_columns;
        if let Some(o) = options.columns.get(name) {
            opts.method = o.method.or(opts.method);
            opts.threshold = o.threshold.or(opts.threshold);
        }
        pairs.push((name, rc, cc, opts));
    }
    // Columns are independent: spread them over the CPUs when there is enough work.
    let work: usize = pairs.iter().map(|(_, r, c, _)| r.len() + c.len()).sum();
    let columns = crate::par::map(&pairs, work >= 2 * PARALLEL_MIN, |(name, rc, cc, opts)| {
        column_drift_ref(name, rc, cc, *opts)
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let drifted = columns.iter().filter(|c| c.drift_detected).count();
    #[allow(clippy::cast_precision_loss)]
    let share = drifted as f64 / columns.len() as f64;
    Ok(DriftReport {
        drifted_columns: drifted,
        share_drifted: share,
        drift_share: options.drift_share,
        dataset_drift: share >= options.drift_share,
        columns,
    })
}
