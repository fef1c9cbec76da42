//! Parquet out (cargo feature `parquet`): the [`ParquetOfflineStore`], Parquet ingest, and
//! training sets written as Parquet files.
//!
//! ## Layout of the store (also in `docs/formats.md`)
//! ```text
//! <root>/<group>/part-<first:020>-<last:020>.parquet
//! ```
//! One directory per feature group; each append writes one file whose range is its own
//! sequence number (`first == last`); compaction merges files `first..=last` into one file
//! named by that range. A file covered by another file's range (left by a compaction that
//! crashed before removing its inputs) is ignored by readers and removed by the next
//! compaction. Files are written to a temp name (`.<name>.<pid>.<n>.tmp`, ignored by readers
//! and by `*.parquet` globs) and hard-linked to their final name only when complete and
//! fsynced, so a reader (ours, DuckDB, pyarrow) never sees a partial file, and an append is
//! all or nothing.
//!
//! Columns, in order: the entity key columns (`int64` or `utf8`, named as the group's entity
//! columns), `event_timestamp` (`timestamp[us, tz=UTC]`, never null), `created_timestamp`
//! (`timestamp[us, tz=UTC]`, null when the row has none), then the features in group order,
//! typed as [`crate::arrow::arrow_type`]. A group the store was not told about
//! ([`OfflineStore::register_group`], which [`crate::FeatureStore`] calls) gets the names
//! `entity_<i>` and `feature_<j>` and the types of its values (`null` for a column with no
//! value). Compression is Snappy; row groups hold at most 64 Ki rows
//! ([`ParquetOfflineStore::with_row_group_rows`]) and carry min/max statistics.
//!
//! Read a group with DuckDB: `SELECT * FROM read_parquet('<root>/<group>/*.parquet',
//! union_by_name = true)` (`union_by_name` only matters after schema evolution added
//! features); pyarrow: `pyarrow.dataset.dataset('<root>/<group>')`; Polars:
//! `pl.read_parquet('<root>/<group>/*.parquet')`.
//!
//! ## Point-in-time joins
//! The store joins by itself ([`OfflineStore::point_in_time_join`]): it reads only the entity,
//! timestamp and requested feature columns, and skips every row group whose `event_timestamp`
//! statistics lie outside `[first entity time - ttl, last entity time]` or whose entity-key
//! statistics lie outside the range of the requested keys. [`ParquetOfflineStore::compact`]
//! sorts rows by entity key and event time, which makes the entity statistics selective.
//! [`ParquetOfflineStore::last_join_stats`] says what the last join read.
//!
//! ## Scan order
//! Rows are scanned in arrival order, file by file. A compacted file holds its rows sorted by
//! (entity key, event time, created time), stably: rows that tie on all three keep their
//! arrival order, which is the only order the point-in-time join and materialization observe.

/// The `parquet` crate this module is built with.
pub use parquet as parquet_crate;

use std::fs::{self, File};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use hashbrown::HashMap;
use mlops_fs as fsutil;
use parking_lot::{Mutex, RwLock};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::arrow::{
    ArrowIngestOptions, CREATED_TIMESTAMP, EVENT_TIMESTAMP, batch_of, keys_to_arrays,
    rows_from_batch, timestamps_to_array, values_to_array,
};
use crate::error::{FeatureError, Result};
use crate::group::{EntityColumn, FeatureDef, FeatureGroup, FeatureRow};
use crate::key::KeyType;
use crate::model::{Timestamp, Value, ValueType, validate_name};
use crate::offline::{OfflineStore, ScanOptions, Visit};
use crate::pit::{PitRequest, TrainingFrame};
use crate::store::{FeatureStore, IngestReport};

mod join;

use join::int_stats;

/// Default maximum rows per row group.
const DEFAULT_ROW_GROUP_ROWS: usize = 64 * 1024;

/// What the last point-in-time join of a [`ParquetOfflineStore`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinStats {
    /// Files of the group.
    pub files: usize,
    /// Row groups in those files.
    pub row_groups: usize,
    /// Row groups read (the others were skipped by their statistics).
    pub row_groups_read: usize,
    /// Rows read.
    pub rows_read: usize,
    /// Columns read per file (of the file's columns).
    pub columns_read: usize,
}

/// What [`ParquetOfflineStore::compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactReport {
    /// Files merged (0: nothing to do).
    pub files_merged: usize,
    /// Rows in the merged file.
    pub rows: usize,
}

/// An [`OfflineStore`] of Parquet files that DuckDB, pyarrow and Polars read as they are (see
/// the [module docs](self) for the layout and the columns).
///
/// Durable by default (each file and its directory entry are fsynced before an append
/// returns; [`ParquetOfflineStore::with_fsync`] opts out). Several processes may append to the
/// same root: file names are claimed atomically (first writer wins, the other takes the next
/// number).
#[derive(Debug)]
pub struct ParquetOfflineStore {
    root: PathBuf,
    fsync: bool,
    row_group_rows: usize,
    groups: RwLock<HashMap<String, FeatureGroup>>,
    last_join: Mutex<JoinStats>,
}

/// One visible file of a group: its sequence range and path.
#[derive(Debug, Clone)]
struct Part {
    first: u64,
    last: u64,
    path: PathBuf,
}

fn part_name(first: u64, last: u64) -> String {
    format!("part-{first:020}-{last:020}.parquet")
}

fn parse_part(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (a, b) = rest.split_once('-')?;
    if a.len() != 20 || b.len() != 20 {
        return None;
    }
    let (first, last) = (a.parse().ok()?, b.parse().ok()?);
    (first <= last).then_some((first, last))
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> FeatureError {
    FeatureError::corrupt(path, format!("not a readable parquet file: {e}"))
}

impl ParquetOfflineStore {
    /// Open (or create) a store rooted at `dir`, removing temp files left by crashed writers.
    ///
    /// # Errors
    /// I/O errors creating or reading `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| FeatureError::io(&root, e))?;
        for entry in fs::read_dir(&root).map_err(|e| FeatureError::io(&root, e))? {
            let entry = entry.map_err(|e| FeatureError::io(&root, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let dir = entry.path();
                for p in fsutil::remove_stray_temps(&dir).map_err(|e| FeatureError::io(&dir, e))? {
                    tracing::info!(path = %p.display(), "removed a stray parquet temp file");
                }
            }
        }
        Ok(Self {
            root,
            fsync: true,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            groups: RwLock::new(HashMap::new()),
            last_join: Mutex::new(JoinStats::default()),
        })
    }

    /// Whether appends fsync (default: yes). Turn off only for tests and benchmarks.
    #[must_use]
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// The maximum rows per row group of the files written (default 65,536; at least 1).
    #[must_use]
    pub fn with_row_group_rows(mut self, rows: usize) -> Self {
        self.row_group_rows = rows.max(1);
        self
    }

    /// Tell the store a group's definition (as [`OfflineStore::register_group`]).
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] for an invalid group.
    pub fn with_group(self, group: &FeatureGroup) -> Result<Self> {
        self.register_group(group)?;
        Ok(self)
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What the last point-in-time join read (row groups skipped, columns read).
    #[must_use]
    pub fn last_join_stats(&self) -> JoinStats {
        *self.last_join.lock()
    }

    fn group_dir(&self, group: &str) -> Result<PathBuf> {
        validate_name("feature group name", group)?;
        Ok(self.root.join(group))
    }

    /// Every part file of a group (covered ones too), sorted by (first, last descending).
    fn all_parts(&self, dir: &Path) -> Result<Vec<Part>> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(FeatureError::io(dir, e)),
        };
        let mut parts = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FeatureError::io(dir, e))?;
            let name = entry.file_name();
            if let Some((first, last)) = name.to_str().and_then(parse_part) {
                parts.push(Part {
                    first,
                    last,
                    path: entry.path(),
                });
            }
        }
        parts.sort_by(|a, b| a.first.cmp(&b.first).then(b.last.cmp(&a.last)));
        Ok(parts)
    }

    /// The visible part files of a group, in arrival order, and the covered ones.
    fn parts(&self, dir: &Path) -> Result<(Vec<Part>, Vec<Part>)> {
        let mut visible: Vec<Part> = Vec::new();
        let mut covered = Vec::new();
        for p in self.all_parts(dir)? {
            match visible.last() {
                Some(v) if p.first <= v.last => covered.push(p),
                _ => visible.push(p),
            }
        }
        Ok((visible, covered))
    }

    /// The schema a batch of `group` is written with: the registered group, or one inferred
    /// from the rows.
    /// The flag says whether the schema was inferred.
    fn schema_for(&self, group: &str, rows: &[FeatureRow]) -> Result<(FeatureGroup, bool)> {
        if let Some(g) = self.groups.read().get(group) {
            return Ok((g.clone(), false));
        }
        let first = &rows[0];
        let entity = first
            .key
            .parts()
            .enumerate()
            .map(|(i, p)| EntityColumn {
                name: format!("entity_{i}"),
                dtype: p.key_type(),
            })
            .collect();
        let width = rows.iter().map(|r| r.values.len()).max().unwrap_or(0);
        let mut types: Vec<Option<ValueType>> = vec![None; width];
        for r in rows {
            for (t, v) in types.iter_mut().zip(&r.values) {
                if t.is_none() {
                    *t = v.value_type();
                }
            }
        }
        // A column without any value is written as Arrow's null type (see `file_group`).
        let features = types
            .into_iter()
            .enumerate()
            .map(|(j, t)| FeatureDef::new(&format!("feature_{j}"), t.unwrap_or(NULL_TYPE)))
            .collect();
        let g = FeatureGroup {
            name: group.to_owned(),
            entity,
            features,
            ttl: None,
            description: String::new(),
            tags: std::collections::BTreeMap::new(),
            online: false,
            version: 1,
        };
        Ok((g, true))
    }

    /// Encode rows as a Parquet file in memory.
    fn encode(
        &self,
        (schema, inferred): &(FeatureGroup, bool),
        rows: &[FeatureRow],
    ) -> Result<Vec<u8>> {
        let batch = rows_to_batch(schema, *inferred, rows)?;
        write_parquet_bytes(&batch, self.row_group_rows)
            .map_err(|e| FeatureError::invalid("offline rows", e.to_string()))
    }

    /// Claim the next file name of a group and write `bytes` there, atomically.
    fn publish(&self, dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
        fs::create_dir_all(dir).map_err(|e| FeatureError::io(dir, e))?;
        for _ in 0..10_000 {
            let next = self
                .all_parts(dir)?
                .iter()
                .map(|p| p.last)
                .max()
                .map_or(1, |m| m + 1);
            let path = dir.join(part_name(next, next));
            match fsutil::create_new_atomic(&path, bytes, self.fsync) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(FeatureError::io(&path, e)),
            }
        }
        Err(FeatureError::Conflict(format!(
            "could not claim a file name in {}",
            dir.display()
        )))
    }

    /// Merge every visible file of a group into one, sorted by entity key and event time
    /// (stably, so rows that tie keep their arrival order), then remove the merged files and
    /// any covered leftovers. Crash-safe: the merged file appears atomically and covers its
    /// inputs, which readers then ignore.
    ///
    /// # Errors
    /// [`FeatureError::Corrupt`] for an unreadable file; I/O errors.
    pub fn compact(&self, group: &str) -> Result<CompactReport> {
        let dir = self.group_dir(group)?;
        let (visible, covered) = self.parts(&dir)?;
        let mut report = CompactReport::default();
        if visible.len() > 1 {
            let mut rows = Vec::new();
            for p in &visible {
                let _ = read_part_rows(&p.path, &ScanOptions::default(), &mut |r| {
                    rows.push(r.clone());
                    ControlFlow::Continue(())
                })?;
            }
            rows.sort_by(|a, b| {
                a.key
                    .parts()
                    .cmp(b.key.parts())
                    .then(a.event_ts.cmp(&b.event_ts))
                    .then(a.effective_created().cmp(&b.effective_created()))
            });
            let schema = self.schema_for(group, &rows)?;
            let bytes = self.encode(&schema, &rows)?;
            let first = visible[0].first;
            let last = visible[visible.len() - 1].last;
            let path = dir.join(part_name(first, last));
            match fsutil::create_new_atomic(&path, &bytes, self.fsync) {
                Ok(()) => {}
                // Another compaction of the same files won.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(FeatureError::io(&path, e)),
            }
            report = CompactReport {
                files_merged: visible.len(),
                rows: rows.len(),
            };
            for p in &visible {
                remove_file(&p.path)?;
            }
        }
        for p in &covered {
            remove_file(&p.path)?;
        }
        if self.fsync && (report.files_merged > 0 || !covered.is_empty()) {
            fsutil::sync_dir(&dir).map_err(|e| FeatureError::io(&dir, e))?;
        }
        Ok(report)
    }
}

/// The type recorded for an inferred column that holds only nulls (written as Arrow's null
/// type; never read back as this type).
const NULL_TYPE: ValueType = ValueType::Int64;

fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FeatureError::io(path, e)),
    }
}

/// The roles of a stored file's columns: entity columns (index, name) are those before
/// `event_timestamp`; `created_timestamp` follows it; the rest are features.
struct FileLayout {
    entity: Vec<(usize, String)>,
    event: usize,
    features: Vec<(String, Option<ValueType>)>,
    entity_types: Vec<KeyType>,
}

impl FileLayout {
    fn of(path: &Path, schema: &arrow_schema::Schema) -> Result<Self> {
        let fields = schema.fields();
        let event = fields
            .iter()
            .position(|f| f.name() == EVENT_TIMESTAMP)
            .ok_or_else(|| FeatureError::Column {
                input: path.display().to_string(),
                column: EVENT_TIMESTAMP.to_owned(),
                detail: "missing column".to_owned(),
            })?;
        if fields.get(event + 1).map(|f| f.name().as_str()) != Some(CREATED_TIMESTAMP) {
            return Err(FeatureError::Column {
                input: path.display().to_string(),
                column: CREATED_TIMESTAMP.to_owned(),
                detail: format!("missing column (expected right after {EVENT_TIMESTAMP})"),
            });
        }
        let mut entity = Vec::new();
        let mut entity_types = Vec::new();
        for (i, f) in fields[..event].iter().enumerate() {
            entity_types.push(match f.data_type() {
                DataType::Int64 => KeyType::Int64,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => KeyType::String,
                other => {
                    return Err(FeatureError::Column {
                        input: path.display().to_string(),
                        column: f.name().clone(),
                        detail: format!("expected an int64 or string key, got {other}"),
                    });
                }
            });
            entity.push((i, f.name().clone()));
        }
        let features = fields[event + 2..]
            .iter()
            .map(|f| (f.name().clone(), value_type_of(f.data_type())))
            .collect();
        Ok(Self {
            entity,
            event,
            features,
            entity_types,
        })
    }

    /// The group this file was written with (all-null columns typed as [`NULL_TYPE`]).
    fn group(&self) -> FeatureGroup {
        FeatureGroup {
            name: "file".to_owned(),
            entity: self
                .entity
                .iter()
                .zip(&self.entity_types)
                .map(|((_, name), t)| EntityColumn {
                    name: name.clone(),
                    dtype: *t,
                })
                .collect(),
            features: self
                .features
                .iter()
                .map(|(n, t)| FeatureDef::new(n, t.unwrap_or(NULL_TYPE)))
                .collect(),
            ttl: None,
            description: String::new(),
            tags: std::collections::BTreeMap::new(),
            online: false,
            version: 1,
        }
    }
}

/// The feature type a stored column was written from (`None`: Arrow's null type).
fn value_type_of(t: &DataType) -> Option<ValueType> {
    Some(match t {
        DataType::Boolean => ValueType::Bool,
        DataType::Int64 => ValueType::Int64,
        DataType::Float64 => ValueType::Float64,
        DataType::Float32 => ValueType::Float32,
        DataType::Timestamp(..) => ValueType::Timestamp,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => ValueType::Bytes,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            ValueType::Float32Vector
        }
        DataType::Null => return None,
        _ => ValueType::String,
    })
}

/// Visit the rows of one stored file whose event time is in the window, skipping row groups
/// by their statistics.
fn read_part_rows(
    path: &Path,
    window: &ScanOptions,
    visit: &mut Visit<'_>,
) -> Result<ControlFlow<()>> {
    let file = File::open(path).map_err(|e| FeatureError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e))?;
    let layout = FileLayout::of(path, builder.schema())?;
    let group = layout.group();
    let meta = builder.metadata().clone();
    let lo = window.start.map_or(i64::MIN, Timestamp::as_micros);
    let hi = window.end.map_or(i64::MAX, Timestamp::as_micros);
    let keep: Vec<usize> = (0..meta.num_row_groups())
        .filter(|&i| {
            let (min, max) = int_stats(meta.row_group(i), layout.event);
            !(min.is_some_and(|m| m >= hi) || max.is_some_and(|m| m < lo))
        })
        .collect();
    if keep.is_empty() {
        return Ok(ControlFlow::Continue(()));
    }
    let reader = builder
        .with_row_groups(keep)
        .build()
        .map_err(|e| parquet_error(path, e))?;
    let input = path.display().to_string();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(path, e))?;
        for row in rows_from_batch(&group, &batch, &ArrowIngestOptions::default(), &input)? {
            if window.contains(row.event_ts) && visit(&row).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// The record batch of rows written with `schema` (see the module docs for the columns).
/// With `inferred`, a feature column without any value is written as Arrow's null type.
fn rows_to_batch(
    schema: &FeatureGroup,
    inferred: bool,
    rows: &[FeatureRow],
) -> Result<RecordBatch> {
    let key_cols: Vec<(String, KeyType)> = schema
        .entity
        .iter()
        .map(|c| (c.name.clone(), c.dtype))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        schema
            .check_key(&r.key)
            .map_err(|e| FeatureError::row(&schema.name, i, "entity", e.to_string()))?;
        if r.values.len() > schema.features.len() {
            return Err(FeatureError::row(
                &schema.name,
                i,
                "values",
                format!(
                    "{} values, the group has {} features",
                    r.values.len(),
                    schema.features.len()
                ),
            ));
        }
    }
    let mut columns = Vec::new();
    let keys = keys_to_arrays(rows.iter().map(|r| r.key.clone()), &key_cols)
        .map_err(|e| FeatureError::invalid("offline rows", e))?;
    for ((name, _), a) in key_cols.into_iter().zip(keys) {
        columns.push((name, a, false));
    }
    columns.push((
        EVENT_TIMESTAMP.to_owned(),
        timestamps_to_array(rows.iter().map(|r| Some(r.event_ts))),
        false,
    ));
    columns.push((
        CREATED_TIMESTAMP.to_owned(),
        timestamps_to_array(rows.iter().map(|r| r.created_ts)),
        true,
    ));
    const NULL: Value = Value::Null;
    for (j, f) in schema.features.iter().enumerate() {
        let values = rows.iter().map(|r| r.values.get(j).unwrap_or(&NULL));
        let all_null = inferred
            && rows
                .iter()
                .all(|r| r.values.get(j).is_none_or(Value::is_null));
        let ty = (!all_null).then_some(f.dtype);
        let array = values_to_array(values, ty).map_err(|e| {
            FeatureError::invalid("offline rows", format!("feature {}: {e}", f.name))
        })?;
        columns.push((f.name.clone(), array, true));
    }
    batch_of(columns)
}

/// A Parquet file of one record batch, in memory (Snappy, min/max statistics).
fn write_parquet_bytes(
    batch: &RecordBatch,
    row_group_rows: usize,
) -> parquet::errors::Result<Vec<u8>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(out)
}

impl OfflineStore for ParquetOfflineStore {
    fn append(&self, group: &str, rows: &[FeatureRow]) -> Result<()> {
        let dir = self.group_dir(group)?;
        if rows.is_empty() {
            return Ok(());
        }
        let schema = self.schema_for(group, rows)?;
        let bytes = self.encode(&schema, rows)?;
        self.publish(&dir, &bytes)?;
        Ok(())
    }

    fn scan(&self, group: &str, options: &ScanOptions, visit: &mut Visit<'_>) -> Result<()> {
        let dir = self.group_dir(group)?;
        let (visible, _) = self.parts(&dir)?;
        for p in &visible {
            match read_part_rows(&p.path, options, visit) {
                Ok(ControlFlow::Break(())) => return Ok(()),
                Ok(ControlFlow::Continue(())) => {}
                // A file removed by a concurrent compaction: its rows are in the merged file.
                Err(FeatureError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    return Err(FeatureError::Conflict(format!(
                        "the files of group {group} were compacted during a scan; retry"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn groups(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(|e| FeatureError::io(&self.root, e))? {
            let entry = entry.map_err(|e| FeatureError::io(&self.root, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_name("feature group name", &name).is_ok()
                && !self.all_parts(&entry.path())?.is_empty()
            {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    fn register_group(&self, group: &FeatureGroup) -> Result<()> {
        group.validate()?;
        for c in &group.entity {
            if c.name == EVENT_TIMESTAMP || c.name == CREATED_TIMESTAMP {
                return Err(FeatureError::invalid(
                    "feature group",
                    format!(
                        "{}: column name {} is reserved by the parquet offline store",
                        group.name, c.name
                    ),
                ));
            }
        }
        for f in &group.features {
            if f.name == EVENT_TIMESTAMP || f.name == CREATED_TIMESTAMP {
                return Err(FeatureError::invalid(
                    "feature group",
                    format!(
                        "{}: feature name {} is reserved by the parquet offline store",
                        group.name, f.name
                    ),
                ));
            }
        }
        self.groups
            .write()
            .insert(group.name.clone(), group.clone());
        Ok(())
    }

    fn point_in_time_join(
        &self,
        request: &PitRequest<'_>,
        columns: &mut [Vec<Value>],
    ) -> Option<Result<()>> {
        Some(self.join(request, columns))
    }
}

/// Read every record batch of a Parquet file.
///
/// # Errors
/// [`FeatureError::Io`] when the file cannot be opened; [`FeatureError::Corrupt`] naming the
/// file when it is not readable Parquet (a truncated footer, a bad page).
pub fn read_parquet(path: impl AsRef<Path>) -> Result<Vec<RecordBatch>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| FeatureError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(ParquetRecordBatchReaderBuilder::build)
        .map_err(|e| parquet_error(path, e))?;
    reader
        .map(|b| b.map_err(|e| parquet_error(path, e)))
        .collect()
}

/// Write a record batch to a Parquet file atomically (temp file, fsync when `durable`, rename):
/// the file appears only when complete. Snappy, min/max statistics.
///
/// # Errors
/// [`FeatureError::InvalidArgument`] for a batch Parquet cannot hold; I/O errors.
pub fn write_parquet(path: impl AsRef<Path>, batch: &RecordBatch, durable: bool) -> Result<()> {
    let path = path.as_ref();
    let bytes = write_parquet_bytes(batch, DEFAULT_ROW_GROUP_ROWS)
        .map_err(|e| FeatureError::invalid("record batch", format!("{}: {e}", path.display())))?;
    fsutil::write_atomic(path, &bytes, durable).map_err(|e| FeatureError::io(path, e))
}

impl FeatureStore {
    /// Ingest a Parquet file into `group` (columns mapped as in the [`arrow`](crate::arrow)
    /// module), all or nothing: the whole file is read and checked before anything is written.
    ///
    /// # Errors
    /// [`FeatureError::NotFound`] for an unknown group; [`FeatureError::Column`] naming the file
    /// and the column (missing, wrong type with both types, a required column null);
    /// [`FeatureError::Corrupt`] naming the file when it is not readable Parquet; as
    /// [`FeatureStore::ingest`].
    pub fn ingest_parquet(&self, group: &str, path: impl AsRef<Path>) -> Result<IngestReport> {
        let path = path.as_ref();
        let batches = read_parquet(path)?;
        self.ingest_arrow_with(
            group,
            batches,
            &ArrowIngestOptions::default(),
            &path.display().to_string(),
        )
    }

    /// Write a training set to a Parquet file (the columns of
    /// [`FeatureStore::training_record_batch`]), atomically and durably.
    ///
    /// # Errors
    /// As [`FeatureStore::training_record_batch`]; I/O errors naming the file.
    pub fn write_training_parquet(
        &self,
        frame: &TrainingFrame,
        path: impl AsRef<Path>,
    ) -> Result<()> {
        let batch = self.training_record_batch(frame)?;
        write_parquet(path, &batch, true)
    }
}

#[cfg(test)]
mod conformance_tests {
    use crate::conformance::Subject;
    use crate::{OfflineStore, ParquetOfflineStore};

    fn parquet_offline(row_group_rows: usize) -> Subject<dyn OfflineStore> {
        let dir = tempfile::tempdir().unwrap();
        let durable = tempfile::tempdir().unwrap();
        let path = durable.path().to_path_buf();
        let open = move |p: &std::path::Path| {
            ParquetOfflineStore::open(p)
                .unwrap()
                .with_fsync(false)
                .with_row_group_rows(row_group_rows)
        };
        let store = open(dir.path());
        Subject::<dyn OfflineStore>::new(Box::new(store))
            .with_reopen(move || Box::new(open(&path)))
            .with_guard((dir, durable))
    }

    mod parquet_offline {
        crate::conformance_tests!(offline; || super::parquet_offline(64 * 1024));
    }

    mod parquet_offline_tiny_row_groups {
        // Two rows per row group: the statistics skip most of them.
        crate::conformance_tests!(offline; || super::parquet_offline(2));
    }
}
