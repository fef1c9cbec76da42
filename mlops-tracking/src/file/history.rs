//! Metric history read straight from a run's log: scanning from a byte offset, and the page
//! tokens that name where the next page starts.

use std::ops::ControlFlow;

use mlops_fs as fsutil;

use super::records::{MetricRef, MetricsIn, corrupt, read_log_until};
use super::{DATA, FileTrackingBackend};
use crate::error::{Result, TrackingError};
use crate::ids::RunId;
use crate::model::Metric;

impl FileTrackingBackend {
    /// How much of the run's log the catalog has applied (a history reads no further, so it
    /// agrees with the run's latest values); `NotFound` for an unknown run.
    pub(super) fn history_limit(&self, run_id: &RunId) -> Result<u64> {
        self.read(|st| {
            st.catalog.run(run_id)?;
            Ok(st.logs.get(run_id).copied().unwrap_or(0))
        })
    }

    /// Read the run's log from byte `from` up to `limit` (outside the lock), calling `f` with
    /// each point of `key`, the byte offset of its record and its index among the record's
    /// points of `key`, until `f` returns `Break`. Records are parsed for their metrics only.
    pub(super) fn scan_history(
        &self,
        run_id: &RunId,
        key: &str,
        from: u64,
        limit: u64,
        mut f: impl FnMut(u64, usize, Metric) -> ControlFlow<()>,
    ) -> Result<()> {
        let data = self.run_dir(run_id).join(DATA);
        let mut at = from;
        read_log_until(&data, from, Some(limit), |payload| {
            let record_at = at;
            at += fsutil::HEADER_LEN as u64 + payload.len() as u64 + 1;
            let rec: MetricsIn<'_> = serde_json::from_slice(payload)
                .map_err(|e| corrupt(&data, format!("bad record: {e}")))?;
            let mut index = 0usize;
            for MetricRef(k, value, timestamp, step) in rec.m {
                if k != key {
                    continue;
                }
                let m = Metric {
                    key: k.into_owned(),
                    value,
                    timestamp,
                    step,
                };
                if f(record_at, index, m).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                index += 1;
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(())
    }
}

/// The prefix of this backend's metric-history page tokens.
pub(super) const HISTORY_TOKEN_PREFIX: &str = "h";

/// `h<byte offset of a record, hex>.<points of the key to skip in it, hex>`.
pub(super) fn encode_history_token(at: u64, skip: usize) -> String {
    format!("{HISTORY_TOKEN_PREFIX}{at:x}.{skip:x}")
}

pub(super) fn decode_history_token(token: &str) -> Result<(u64, usize)> {
    let bad = || TrackingError::invalid("page token", format!("not a page token: {token:?}"));
    let rest = token.strip_prefix(HISTORY_TOKEN_PREFIX).ok_or_else(bad)?;
    let (at, skip) = rest.split_once('.').ok_or_else(bad)?;
    let hex = |s: &str| !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(at) || !hex(skip) {
        return Err(bad());
    }
    let at = u64::from_str_radix(at, 16).map_err(|_| bad())?;
    let skip = usize::from_str_radix(skip, 16).map_err(|_| bad())?;
    Ok((at, skip))
}
