//! Reading and writing rows (pipelined, atomic per chunk) in the Redis store.

use super::*;

impl Inner {
    pub(super) fn remaining_ms(&self, ttl: i64, event: Timestamp, now: i64) -> i64 {
        let left = event
            .as_micros()
            .saturating_add(ttl)
            .saturating_add(self.grace)
            .saturating_sub(now);
        if left <= 0 {
            0
        } else {
            (left.saturating_add(999) / 1000).min(MAX_EXPIRE_MS)
        }
    }

    /// Set every row's physical expiry from the group's current TTL.
    pub(super) fn reexpire(&self, info: &GroupInfo) -> Result<()> {
        let now = self.clock.now().as_micros();
        self.with_con("moving row expiries to the new TTL", |con| {
            self.scan_group(con, info, |con, keys| {
                let mut pipe = Pipeline::with_capacity(keys.len());
                for k in &keys {
                    pipe.hget(k, VERSION_FIELD);
                }
                let versions: Vec<Option<Vec<u8>>> = pipe.query(con)?;
                let mut cmd = ::redis::cmd("EVALSHA");
                cmd.arg(self.reexpire_script.get_hash()).arg(keys.len());
                for k in &keys {
                    cmd.arg(k);
                }
                for v in &versions {
                    let event = v
                        .as_deref()
                        .filter(|v| v.len() == VERSION_LEN)
                        .and_then(|v| unsortable(&v[..20]));
                    // A row without a valid version is skipped by the script (no match).
                    cmd.arg(v.as_deref().unwrap_or_default());
                    match (info.ttl, event) {
                        (Some(ttl), Some(event)) => {
                            cmd.arg(self.remaining_ms(ttl, Timestamp::from_micros(event), now))
                        }
                        _ => cmd.arg(""),
                    };
                }
                let _: usize = cmd.query(con)?;
                Ok(())
            })
        })
    }

    pub(super) fn write(
        &self,
        info: &GroupInfo,
        rows: &[FeatureRow],
        write_now: Timestamp,
    ) -> Result<WriteStats> {
        // Rows already past the TTL at the write's time are neither stored nor counted.
        let kept: std::borrow::Cow<'_, [FeatureRow]> = if rows
            .iter()
            .any(|r| info.def.is_expired(r.event_ts, write_now))
        {
            rows.iter()
                .filter(|r| !info.def.is_expired(r.event_ts, write_now))
                .cloned()
                .collect::<Vec<_>>()
                .into()
        } else {
            rows.into()
        };
        let mut stats = WriteStats {
            expired: rows.len() - kept.len(),
            ..WriteStats::default()
        };
        let rows = &*kept;
        let now = self.clock.now().as_micros();
        let total = rows.len();
        let names: Vec<&str> = info.def.features.iter().map(|f| f.name.as_str()).collect();
        // Pipelines of up to 16 script calls; each call is one atomic chunk.
        let chunk = self.chunk_rows;
        let per_pipe = chunk * 16;
        let keep_versions = if info.ttl.is_some() { "1" } else { "0" };
        let mut done = 0;
        let mut key = Vec::new();
        let mut val = Vec::new();
        for part in rows.chunks(per_pipe) {
            let mut pipe = Pipeline::with_capacity(part.len().div_ceil(chunk));
            pipe.ignore_errors();
            for rows in part.chunks(chunk) {
                let mut cmd = ::redis::cmd("EVALSHA");
                cmd.arg(self.write_script.get_hash()).arg(rows.len() + 2);
                cmd.arg(&self.groups_key).arg(&info.versions_key);
                for row in rows {
                    info.key(&row.key, &mut key);
                    cmd.arg(&key);
                }
                cmd.arg(info.def.name.as_str()).arg(keep_versions);
                for row in rows {
                    let mut version = sortable(row.event_ts.as_micros());
                    version.push_str(&sortable(row.effective_created().as_micros()));
                    cmd.arg(version);
                    match info.ttl {
                        Some(ttl) => cmd.arg(self.remaining_ms(ttl, row.event_ts, now)),
                        None => cmd.arg(""),
                    };
                    let present = row.values.iter().filter(|v| !v.is_null()).count();
                    cmd.arg(present);
                    for (name, v) in names.iter().zip(&row.values) {
                        if v.is_null() {
                            continue;
                        }
                        val.clear();
                        encode_value(v, &mut val);
                        cmd.arg(*name).arg(&val);
                    }
                }
                pipe.add_command(cmd);
            }
            let replies = self.with_con("writing", |con| {
                let replies: Vec<RV> = self.run_pipeline(con, &pipe)?;
                if replies
                    .iter()
                    .any(|r| matches!(r, RV::ServerError(e) if e.code() == "NOSCRIPT"))
                {
                    // The server lost its scripts (restart, SCRIPT FLUSH): load them and
                    // replay; rows are idempotent, so chunks that did run are unaffected.
                    self.write_script.load(con)?;
                    return Ok(self.run_pipeline(con, &pipe)?);
                }
                Ok(replies)
            });
            let replies = match replies {
                Ok(r) => r,
                Err(e) => return Err(Self::partial(info, done, total, e)),
            };
            for (reply, rows) in replies.iter().zip(part.chunks(chunk)) {
                match reply {
                    RV::Int(n) => {
                        let n = usize::try_from(*n).unwrap_or(0).min(rows.len());
                        stats.written += n;
                        stats.stale += rows.len() - n;
                        done += rows.len();
                    }
                    RV::ServerError(e) if e.code() == "MLOPSGONE" => {
                        let err = self.group_gone(info);
                        return Err(Self::partial(info, done, total, err));
                    }
                    RV::ServerError(e) => {
                        let err = match bad_key(e.code(), e.details().unwrap_or_default()) {
                            Some((i, why)) if i < rows.len() => {
                                self.corrupt_entity(info, &rows[i].key, why.to_owned())
                            }
                            _ => self.backend(format!("write script failed: {e}")),
                        };
                        return Err(Self::partial(info, done, total, err));
                    }
                    other => {
                        let err = self.backend(format!("unexpected write reply {other:?}"));
                        return Err(Self::partial(info, done, total, err));
                    }
                }
            }
        }
        Ok(stats)
    }

    /// Say how much of a failed batch was applied.
    pub(super) fn partial(
        info: &GroupInfo,
        done: usize,
        total: usize,
        e: FeatureError,
    ) -> FeatureError {
        if done == 0 {
            return e;
        }
        let context = format!(
            "batch for feature group {} failed after its first {done} of {total} rows were \
             applied (rewriting the batch is safe)",
            info.def.name
        );
        match e {
            FeatureError::Backend {
                backend,
                target,
                detail,
            } => FeatureError::Backend {
                backend,
                target,
                detail: format!("{context}: {detail}"),
            },
            FeatureError::CorruptEntry {
                backend,
                key,
                detail,
            } => FeatureError::CorruptEntry {
                backend,
                key,
                detail: format!("{detail} ({context})"),
            },
            other => other,
        }
    }

    pub(super) fn read(
        &self,
        info: &GroupInfo,
        req: &ReadRequest<'_>,
        out: &mut [FeatureValue],
    ) -> Result<()> {
        let now = req.now.as_micros();
        let nf = req.features.len();
        let mut pipe = Pipeline::with_capacity(req.keys.len() + 1);
        pipe.ignore_errors();
        // Is the group still registered? (A server restarted without persistence lost it.)
        pipe.hexists(&self.groups_key, info.def.name.as_str());
        let mut key = Vec::new();
        for entity in req.keys {
            info.key(entity, &mut key);
            let mut cmd = ::redis::cmd("HMGET");
            cmd.arg(&key).arg(VERSION_FIELD);
            for &j in req.features {
                cmd.arg(info.def.features[j].name.as_str());
            }
            pipe.add_command(cmd);
        }
        let replies: Vec<RV> =
            self.with_con("reading", |con| Ok(self.run_pipeline(con, &pipe)?))?;
        if replies.len() != req.keys.len() + 1 {
            return Err(self.backend(format!(
                "{} replies to {} reads",
                replies.len(),
                req.keys.len() + 1
            )));
        }
        let mut replies = replies.into_iter();
        match replies.next() {
            Some(RV::Int(1)) => {}
            Some(RV::Int(0)) => return Err(self.group_gone(info)),
            Some(RV::ServerError(e)) => {
                return Err(self.registry_err(&RedisError::from(e)));
            }
            other => {
                return Err(self.backend(format!("unexpected registry reply {other:?}")));
            }
        }
        // Entities without a hash, in a TTL group: their row may have expired physically.
        let mut misses: Vec<usize> = Vec::new();
        for (i, reply) in replies.enumerate() {
            let start = i * req.stride + req.offset;
            let slots = &mut out[start..start + nf];
            let bad = |detail: String| self.corrupt_entity(info, &req.keys[i], detail);
            let fields = match reply {
                RV::Array(fields) if fields.len() == nf + 1 => fields,
                RV::ServerError(e) => {
                    let detail = if e.code() == "WRONGTYPE" {
                        "holds a value that is not a hash".to_owned()
                    } else {
                        e.to_string()
                    };
                    return Err(bad(detail));
                }
                other => {
                    return Err(bad(format!("unexpected reply {other:?}")));
                }
            };
            let mut fields = fields.into_iter();
            let event = match fields.next() {
                Some(RV::BulkString(v)) if v.len() == VERSION_LEN => {
                    unsortable(&v[..20]).filter(|_| unsortable(&v[20..]).is_some())
                }
                Some(RV::Nil) => {
                    if let Some(j) = fields.position(|f| !matches!(f, RV::Nil)) {
                        return Err(bad(format!(
                            "has field {:?} but no {VERSION_FIELD} version field",
                            info.def.features[req.features[j]].name
                        )));
                    }
                    // A key of the wrong shape can never match: say so, not "not found".
                    info.def.check_key(&req.keys[i])?;
                    for slot in slots {
                        *slot = FeatureValue::default();
                    }
                    if info.ttl.is_some() {
                        misses.push(i);
                    }
                    continue;
                }
                _ => None,
            };
            let Some(event) = event else {
                return Err(bad(format!(
                    "field {VERSION_FIELD} is not a {VERSION_LEN}-digit version"
                )));
            };
            let event_ts = Some(Timestamp::from_micros(event));
            if info.ttl.is_some_and(|ttl| now.saturating_sub(event) > ttl) {
                for slot in slots {
                    slot.value = Value::Null;
                    slot.status = FeatureStatus::OutsideMaxAge;
                    slot.event_ts = event_ts;
                }
                continue;
            }
            for ((slot, field), &j) in slots.iter_mut().zip(fields).zip(req.features) {
                slot.event_ts = event_ts;
                let def = &info.def.features[j];
                match field {
                    RV::Nil => {
                        slot.value = Value::Null;
                        slot.status = FeatureStatus::Null;
                    }
                    RV::BulkString(b) => match decode_value(def.dtype, b) {
                        Ok(v) => {
                            slot.value = v;
                            slot.status = FeatureStatus::Present;
                        }
                        Err(why) => {
                            return Err(bad(format!("field {:?} {why}", def.name)));
                        }
                    },
                    other => {
                        return Err(bad(format!(
                            "field {:?}: unexpected reply {other:?}",
                            def.name
                        )));
                    }
                }
            }
        }
        if !misses.is_empty() {
            self.read_expired(info, req, &misses, out)?;
        }
        Ok(())
    }

    /// For entities without a hash: a version kept in the group's versions hash means the row
    /// existed and expired physically; it reads `OutsideMaxAge` with its event time, as it
    /// did before Redis reclaimed it.
    fn read_expired(
        &self,
        info: &GroupInfo,
        req: &ReadRequest<'_>,
        misses: &[usize],
        out: &mut [FeatureValue],
    ) -> Result<()> {
        let mut cmd = ::redis::cmd("HMGET");
        cmd.arg(&info.versions_key);
        let mut key = Vec::new();
        for &i in misses {
            info.key(&req.keys[i], &mut key);
            cmd.arg(&key);
        }
        let versions: Vec<Option<Vec<u8>>> =
            self.with_con("reading row versions", |con| Ok(cmd.query(con)?))?;
        let nf = req.features.len();
        for (&i, v) in misses.iter().zip(versions) {
            let Some(v) = v else { continue };
            let event = (v.len() == VERSION_LEN)
                .then(|| unsortable(&v[..20]))
                .flatten()
                .ok_or_else(|| {
                    self.corrupt(
                        &info.versions_key,
                        format!(
                            "entity {} has a version that is not {VERSION_LEN} digits",
                            req.keys[i]
                        ),
                    )
                })?;
            let start = i * req.stride + req.offset;
            for slot in &mut out[start..start + nf] {
                slot.value = Value::Null;
                slot.status = FeatureStatus::OutsideMaxAge;
                slot.event_ts = Some(Timestamp::from_micros(event));
            }
        }
        Ok(())
    }
}
