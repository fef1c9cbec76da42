//! The audit history kept as model tags `mlops.audit.<8-digit sequence>.<8 hex>`.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use serde_json::json;

use super::wire::{self, AUDIT_PREFIX, ModelJson};
use super::{MlflowRegistry, model_err};
use crate::error::Result;
use crate::model::{AuditChange, AuditRecord, MAX_TAG_VALUE_LEN};
use crate::store::Change;
use mlops_mlflow::http::{Method, Retry};

impl MlflowRegistry {
    /// Append audit records to model `name`'s tags, after the sequence numbers in `model`.
    pub(super) fn append_audit(
        &self,
        name: &str,
        model: &ModelJson,
        records: Vec<AuditRecord>,
    ) -> Result<()> {
        for (seq, mut record) in (next_audit_seq(model)..).zip(records) {
            let key = format!("{AUDIT_PREFIX}{seq:08}.{:08x}", random_u32());
            let value = audit_value(&mut record);
            self.send(
                Method::Post,
                "registered-models/set-tag",
                &json!({"name": self.full(name), "key": key, "value": value}),
                Retry::Idempotent,
            )
            .map_err(|e| model_err(name, e))?;
        }
        Ok(())
    }

    /// The audit records of model `name`, oldest first.
    pub(super) fn read_audit(&self, name: &str) -> Result<Vec<AuditRecord>> {
        let model = self.model_json(name)?;
        let mut tags: Vec<_> = model
            .tags
            .iter()
            .filter(|t| t.key.starts_with(AUDIT_PREFIX))
            .collect();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        // A record another client wrote that is not one of ours is skipped with a warning:
        // a foreign tag never breaks a read.
        Ok(tags
            .into_iter()
            .filter_map(|t| match serde_json::from_str::<AuditRecord>(&t.value) {
                Ok(r) => Some(r),
                Err(e) => {
                    wire::warn_foreign(
                        &self.http.url("registered-models/get"),
                        &format!("registered model {}", self.full(name)),
                        &t.key,
                        &format!("is not an audit record ({e}); skipped"),
                    );
                    None
                }
            })
            .collect())
    }
}

/// The next audit sequence number of a model (one past the highest in its tags).
pub(super) fn next_audit_seq(model: &ModelJson) -> u64 {
    model
        .tags
        .iter()
        .filter_map(|t| t.key.strip_prefix(AUDIT_PREFIX))
        .filter_map(|rest| rest.split('.').next()?.parse::<u64>().ok())
        .max()
        .map_or(1, |s| s + 1)
}

/// A record as a tag value: JSON, the comment shortened when the record would exceed MLflow's
/// tag value limit.
pub(super) fn audit_value(record: &mut AuditRecord) -> String {
    loop {
        let value = serde_json::to_string(record).unwrap_or_default();
        if value.chars().count() <= MAX_TAG_VALUE_LEN || record.comment.is_empty() {
            return value;
        }
        let excess = value.chars().count() - MAX_TAG_VALUE_LEN;
        let keep = record.comment.chars().count().saturating_sub(excess + 3);
        record.comment = record.comment.chars().take(keep).collect::<String>() + "...";
        if keep == 0 {
            record.comment.clear();
        }
    }
}

/// 32 random bits (a randomly keyed SipHash of the time and a counter: no RNG dependency).
pub(super) fn random_u32() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    #[allow(clippy::cast_possible_truncation)]
    let r = h.finish() as u32;
    r
}

pub(super) fn record(change: &Change<'_>, what: AuditChange) -> AuditRecord {
    AuditRecord {
        at: Utc::now(),
        actor: change.actor.to_owned(),
        comment: change.comment.to_owned(),
        change: what,
    }
}
