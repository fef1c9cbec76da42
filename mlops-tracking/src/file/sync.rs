//! Catching up with other processes' writes, all or nothing.

use std::collections::BTreeSet;
use std::fs;
use std::io;

use crate::catalog::RunState;
use crate::error::Result;
use crate::ids::RunId;
use crate::model::Experiment;
use mlops_fs as fsutil;

use super::records::{Change, corrupt, io_err, load_run, read_json, read_log};
use super::{CHANGES, DATA, EXPERIMENTS, FileState, FileTrackingBackend};

impl FileTrackingBackend {
    /// Catch up with other processes' writes (named in `changes.log`). With `repair` (only under
    /// the write lock), a torn tail left by a crashed writer is truncated away.
    ///
    /// All or nothing: every changed experiment and run is loaded first, onto copies; only when
    /// all loaded are they applied and the change-log offset advanced. On an error (an I/O
    /// error, a file briefly missing) the state and the offset stay as they were, the error is
    /// returned, and the next call tries again.
    pub(super) fn sync(&self, st: &mut FileState, repair: bool) -> Result<()> {
        let path = self.inner.root.join(CHANGES);
        let len = st.changes.metadata().map_err(io_err(&path))?.len();
        if len == st.changes_offset {
            return Ok(());
        }
        if len < st.changes_offset {
            // Only a torn tail we never consumed can be cut; anything else is tampering.
            return Err(corrupt(
                &path,
                format!("shrank from {} to {len} bytes", st.changes_offset),
            ));
        }
        let mut experiments = BTreeSet::new();
        let mut runs = BTreeSet::new();
        let end = read_log(&path, st.changes_offset, None, |payload| {
            match serde_json::from_slice(payload)
                .map_err(|e| corrupt(&path, format!("bad change record: {e}")))?
            {
                Change::Experiment(id) => experiments.insert(id),
                Change::Run(id) => runs.insert(id),
            };
            Ok(())
        })?;
        let mut loaded_experiments = Vec::with_capacity(experiments.len());
        for id in experiments {
            let p = self.inner.root.join(EXPERIMENTS).join(format!("{id}.json"));
            loaded_experiments.push((id, read_json::<Experiment>(&p)?));
        }
        let mut loaded_runs = Vec::with_capacity(runs.len());
        for id in runs {
            loaded_runs.push((id, self.load_run_update(st, &id, repair)?));
        }
        if end.torn && repair {
            fsutil::truncate_to(&path, end.valid_len, self.durable()).map_err(io_err(&path))?;
        }
        // Everything loaded: apply it.
        st.changes_offset = end.valid_len;
        for (id, exp) in loaded_experiments {
            st.catalog.experiments.insert(id, exp);
        }
        for (id, (state, len)) in loaded_runs {
            st.logs.insert(id, len);
            st.catalog.insert_run(state);
        }
        Ok(())
    }

    /// A run's metadata and its log read onto a copy of the state `st` holds for it (from the
    /// offset already applied), without changing `st`: the new state and log length.
    fn load_run_update(&self, st: &FileState, id: &RunId, repair: bool) -> Result<(RunState, u64)> {
        let dir = self.run_dir(id);
        let (base, from) = match (st.logs.get(id), st.catalog.run(id).ok()) {
            (Some(&from), Some(state)) if from > 0 => (Some(RunState::clone(state)), from),
            _ => (None, 0),
        };
        let (state, len, torn) = load_run(&dir, base, from)?;
        if torn && repair {
            let data = dir.join(DATA);
            fsutil::truncate_to(&data, len, self.durable()).map_err(io_err(&data))?;
        }
        Ok((state, len))
    }

    /// Re-read a run's metadata and the new part of its log; on an error nothing changes.
    pub(super) fn refresh_run(&self, st: &mut FileState, id: &RunId, repair: bool) -> Result<()> {
        let (state, len) = self.load_run_update(st, id, repair)?;
        st.logs.insert(*id, len);
        st.catalog.insert_run(state);
        Ok(())
    }

    /// Under the write lock: make sure the run's log holds nothing we have not applied (records
    /// of a writer that crashed before announcing them, or a torn tail).
    pub(super) fn settle_run_log(&self, st: &mut FileState, id: &RunId) -> Result<()> {
        let data = self.run_dir(id).join(DATA);
        let len = match fs::metadata(&data) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(&data)(e)),
        };
        if st.logs.get(id).copied() != Some(len) {
            self.refresh_run(st, id, true)?;
        }
        Ok(())
    }
}
