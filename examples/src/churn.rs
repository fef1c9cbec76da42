//! A deterministic synthetic customer-churn dataset, the data of the end-to-end example.
//!
//! Each customer has a tenure, a monthly spend, a count of support tickets, a contract type and a
//! payment method; the churn label is drawn from a logistic model of those, so a trained
//! classifier has something real to find. The same seed always gives the same rows.

use std::fmt::Write as _;

/// A small, fast, deterministic random generator (SplitMix64): the examples need reproducible
/// data, not cryptographic randomness.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next_u64() >> 11) as f64;
        x / (1u64 << 53) as f64
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Contract types, as in the classic telco churn data.
pub const CONTRACTS: [&str; 3] = ["month-to-month", "one-year", "two-year"];
/// Payment methods.
pub const PAYMENT_METHODS: [&str; 3] = ["card", "bank-transfer", "electronic-check"];

/// One customer row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Customer {
    /// Entity key.
    pub customer_id: i64,
    /// When the row was observed, milliseconds since the Unix epoch.
    pub event_ms: i64,
    /// Months as a customer (0..=72).
    pub tenure_months: i64,
    /// Monthly spend in currency units (20..=120).
    pub monthly_spend: f64,
    /// Support tickets in the last quarter.
    pub support_tickets: i64,
    /// One of [`CONTRACTS`].
    pub contract: String,
    /// One of [`PAYMENT_METHODS`].
    pub payment_method: String,
    /// Whether the customer churned (the label).
    pub churned: bool,
}

/// The CSV header written by [`to_csv`].
pub const CSV_HEADER: &str = "customer_id,event_ms,tenure_months,monthly_spend,support_tickets,contract,payment_method,churned";

/// Parameters of the generated population; `shift` moves the spend distribution (for drift).
#[derive(Debug, Clone, Copy)]
pub struct Population {
    /// Mean monthly spend.
    pub spend_mean: f64,
    /// Mean support tickets per quarter.
    pub tickets_mean: f64,
}

impl Default for Population {
    fn default() -> Self {
        Self {
            spend_mean: 65.0,
            tickets_mean: 1.2,
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Generate `n` customers with ids starting at `first_id`, observed from `start_ms` on, one
/// every `step_ms` milliseconds.
#[must_use]
pub fn generate(
    rng: &mut SplitMix64,
    first_id: i64,
    n: usize,
    start_ms: i64,
    step_ms: i64,
    population: Population,
) -> Vec<Customer> {
    let mut rows = Vec::with_capacity(n);
    for (i, id) in (first_id..).take(n).enumerate() {
        #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
        let tenure = rng.below(73) as i64;
        let spend = (population.spend_mean + 22.0 * rng.normal()).clamp(20.0, 120.0);
        let spend = (spend * 100.0).round() / 100.0;
        // Poisson-ish ticket counts from a geometric draw.
        let mut tickets = 0i64;
        while tickets < 10
            && rng.next_f64() < population.tickets_mean / (1.0 + population.tickets_mean)
        {
            tickets += 1;
        }
        let contract_idx = match rng.below(100) {
            0..=54 => 0,
            55..=79 => 1,
            _ => 2,
        };
        #[allow(clippy::cast_possible_truncation)]
        let payment_idx = rng.below(3) as usize;
        #[allow(clippy::cast_precision_loss)]
        let z = -0.4 - 0.045 * tenure as f64
            + 0.025 * (spend - 65.0)
            + 0.55 * tickets as f64
            + [0.9, -0.6, -1.6][contract_idx]
            + [0.0, -0.1, 0.5][payment_idx];
        let churned = rng.next_f64() < sigmoid(z);
        #[allow(clippy::cast_possible_wrap)]
        let event_ms = start_ms + step_ms * i as i64;
        rows.push(Customer {
            customer_id: id,
            event_ms,
            tenure_months: tenure,
            monthly_spend: spend,
            support_tickets: tickets,
            contract: CONTRACTS[contract_idx].to_owned(),
            payment_method: PAYMENT_METHODS[payment_idx].to_owned(),
            churned,
        });
    }
    rows
}

/// Render rows as CSV with [`CSV_HEADER`].
#[must_use]
pub fn to_csv(rows: &[Customer]) -> String {
    let mut out = String::with_capacity(64 * (rows.len() + 1));
    out.push_str(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{:.2},{},{},{},{}",
            r.customer_id,
            r.event_ms,
            r.tenure_months,
            r.monthly_spend,
            r.support_tickets,
            r.contract,
            r.payment_method,
            u8::from(r.churned)
        );
    }
    out
}

/// Parse CSV written by [`to_csv`] into JSON objects (one per row), keeping every field as
/// the type it has in the file; an empty field becomes `null`. This is what data validation
/// runs on: the raw file, not the typed rows.
///
/// # Errors
/// A message naming the line when a line has the wrong number of fields or the header differs.
pub fn parse_csv_rows(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty CSV")?.split(',').collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != header.len() {
            return Err(format!(
                "line {}: {} fields, expected {}",
                i + 2,
                fields.len(),
                header.len()
            ));
        }
        let mut obj = serde_json::Map::new();
        for (name, raw) in header.iter().zip(fields) {
            let value = if raw.is_empty() {
                serde_json::Value::Null
            } else if let Ok(n) = raw.parse::<i64>() {
                serde_json::Value::from(n)
            } else if let Ok(x) = raw.parse::<f64>() {
                serde_json::Value::from(x)
            } else {
                serde_json::Value::from(raw)
            };
            obj.insert((*name).to_owned(), value);
        }
        rows.push(serde_json::Value::Object(obj));
    }
    Ok(rows)
}

/// The model's input vector for a customer: tenure, spend, tickets, and one-hot contract and
/// payment method (the first category of each is the baseline).
#[must_use]
pub fn features(c: &Customer) -> [f64; 7] {
    #[allow(clippy::cast_precision_loss)]
    [
        c.tenure_months as f64,
        c.monthly_spend,
        c.support_tickets as f64,
        f64::from(u8::from(c.contract == CONTRACTS[1])),
        f64::from(u8::from(c.contract == CONTRACTS[2])),
        f64::from(u8::from(c.payment_method == PAYMENT_METHODS[1])),
        f64::from(u8::from(c.payment_method == PAYMENT_METHODS[2])),
    ]
}

/// Names of the entries of [`features`].
pub const FEATURE_NAMES: [&str; 7] = [
    "tenure_months",
    "monthly_spend",
    "support_tickets",
    "contract_one_year",
    "contract_two_year",
    "pay_bank_transfer",
    "pay_electronic_check",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_plausible() {
        let a = generate(
            &mut SplitMix64::new(7),
            1,
            2000,
            0,
            1000,
            Population::default(),
        );
        let b = generate(
            &mut SplitMix64::new(7),
            1,
            2000,
            0,
            1000,
            Population::default(),
        );
        assert_eq!(a, b);
        let churn_rate = a.iter().filter(|c| c.churned).count() as f64 / a.len() as f64;
        assert!((0.1..0.6).contains(&churn_rate), "churn rate {churn_rate}");
        assert!(a.iter().all(|c| (20.0..=120.0).contains(&c.monthly_spend)));
        assert!(a.iter().all(|c| (0..=72).contains(&c.tenure_months)));
    }

    #[test]
    fn csv_round_trip_keeps_types() {
        let rows = generate(&mut SplitMix64::new(1), 10, 5, 0, 1, Population::default());
        let parsed = parse_csv_rows(&to_csv(&rows)).unwrap();
        assert_eq!(parsed.len(), 5);
        assert_eq!(parsed[0]["customer_id"], 10);
        assert!(parsed[0]["contract"].is_string());
        assert!(parse_csv_rows("a,b\n1\n").unwrap_err().contains("line 2"));
    }
}
