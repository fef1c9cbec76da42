//! In-memory online and offline stores.
//!
//! The online store keeps, per group, 64 shards each behind its own lock. A shard holds an
//! open-addressing index whose slot is one `u64` (a 32-bit fragment of the key's hash and a
//! 32-bit row number), the rows in chunks of up to 2 MiB (per row a header of version and key,
//! null bits and the fixed-width values, in one run of `u64`s), and the variable-width values
//! (strings, bytes, vectors) beside them. On Linux, a shard past one chunk of rows, and an index
//! of 2 MiB or more, are on transparent huge pages (`MADV_HUGEPAGE`): in a store of a GiB
//! that about halves the cost of each of a read's two random loads, half of which was the page
//! walk on 4 KiB pages. Keys of up to 22 encoded bytes live in the row
//! header; longer ones in a side array. A read is one hash, one shard read lock, one probe (one
//! cache line of the index), one key compare in the row (the row's cache line) and a copy of
//! the requested values. The shard locks give each reader thread its own slot, so reads on
//! several cores share no written cache line and read throughput scales with reader threads.
//!
//! Eviction turns an expired row into a tombstone: its variable-width values are freed and
//! its null bits set, while its key and version stay, so reads keep answering
//! `OutsideMaxAge` with the row's event time and an older late row cannot replace it.

mod index;
mod words;

use std::hash::BuildHasher;
use std::sync::{Arc, PoisonError};

use arc_swap::ArcSwap;
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use hashbrown::{DefaultHashBuilder, HashMap};
use parking_lot::{Mutex, RwLock};

use self::index::RowIndex;
use self::words::{HUGE_PAGE, Words};
use crate::error::{EntityKind, FeatureError, Result};
use crate::group::{FeatureGroup, FeatureRow};
use crate::model::{EntityKey, Timestamp, Value, ValueType, duration_micros, validate_name};
use crate::offline::{OfflineStore, ScanOptions, Visit};
use crate::online::{FeatureStatus, FeatureValue, OnlineStore, ReadRequest, WriteStats};

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// Rows per chunk of a shard's variable-width values (a power of two).
const CHUNK_BITS: u32 = 12;
const CHUNK_ROWS: usize = 1 << CHUNK_BITS;
/// Words before the null bits in a row: event time, created time, and the key's three inline
/// words (or [`HEAP_KEY`] and the key's place in the shard's long keys), so a hit touches the
/// index and one row only.
const HEADER: usize = 5;
/// Size from which a shard's first chunk of rows is a map of a whole chunk rather than a heap
/// block (see [`RowWords`]).
const LAZY_BYTES: usize = 64 << 10;
/// First key word of a row whose key is too long to be inline. An inline key's first word
/// starts with its length (at most 22), so the two never meet.
const HEAP_KEY: u64 = 0x7f;
/// The bit of a row's first key word that marks a tombstone (an evicted row).
const TOMB: u64 = 0x80;

#[derive(Debug, Clone, Copy)]
enum Col {
    Fixed(usize),
    Var(usize),
}

#[derive(Debug)]
struct Layout {
    types: Vec<ValueType>,
    cols: Vec<Col>,
    null_words: usize,
    stride: usize,
    n_var: usize,
    ttl: Option<i64>,
}

impl Layout {
    fn of(group: &FeatureGroup) -> Self {
        let types: Vec<ValueType> = group.features.iter().map(|f| f.dtype).collect();
        let (mut n_fixed, mut n_var) = (0, 0);
        let cols = types
            .iter()
            .map(|t| {
                if t.is_fixed_width() {
                    n_fixed += 1;
                    Col::Fixed(n_fixed - 1)
                } else {
                    n_var += 1;
                    Col::Var(n_var - 1)
                }
            })
            .collect();
        let null_words = types.len().div_ceil(64);
        Self {
            types,
            cols,
            null_words,
            stride: HEADER + null_words + n_fixed,
            n_var,
            ttl: group.ttl.map(duration_micros),
        }
    }

    fn fixed_at(&self, k: usize) -> usize {
        HEADER + self.null_words + k
    }
}

#[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
fn encode_fixed(v: &Value) -> u64 {
    match *v {
        Value::Bool(b) => u64::from(b),
        Value::Int64(x) => x as u64,
        Value::Float64(x) => x.to_bits(),
        Value::Float32(x) => u64::from(x.to_bits()),
        Value::Timestamp(t) => t.as_micros() as u64,
        _ => 0,
    }
}

#[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
fn decode_fixed(ty: ValueType, w: u64) -> Value {
    match ty {
        ValueType::Bool => Value::Bool(w != 0),
        ValueType::Int64 => Value::Int64(w as i64),
        ValueType::Float64 => Value::Float64(f64::from_bits(w)),
        ValueType::Float32 => Value::Float32(f32::from_bits(w as u32)),
        ValueType::Timestamp => Value::Timestamp(Timestamp::from_micros(w as i64)),
        _ => Value::Null,
    }
}

/// Per-row storage of one shard in chunks of [`CHUNK_ROWS`] rows, `per_row` items a row: a
/// shard that grows never copies more than one chunk (the first chunk grows from a few rows,
/// later ones are reserved whole and filled as rows arrive).
#[derive(Debug)]
struct Chunks<T> {
    chunks: Vec<Vec<T>>,
    per_row: usize,
}

impl<T: Clone> Chunks<T> {
    fn new(per_row: usize) -> Self {
        Self {
            chunks: Vec::new(),
            per_row,
        }
    }

    /// Append one row of `fill`s.
    fn push_row(&mut self, fill: T) {
        let full = CHUNK_ROWS * self.per_row;
        if full == 0 {
            return;
        }
        if self.chunks.last().is_none_or(|c| c.len() == full) {
            let rows = if self.chunks.is_empty() {
                16
            } else {
                CHUNK_ROWS
            };
            self.chunks.push(Vec::with_capacity(rows * self.per_row));
        }
        let Some(chunk) = self.chunks.last_mut() else {
            return;
        };
        if chunk.len() == chunk.capacity() {
            chunk.reserve_exact((chunk.capacity() * 2).min(full) - chunk.len());
        }
        chunk.resize(chunk.len() + self.per_row, fill);
    }

    #[inline]
    fn row(&self, r: usize) -> &[T] {
        if self.per_row == 0 {
            return &[];
        }
        let start = (r & (CHUNK_ROWS - 1)) * self.per_row;
        &self.chunks[r >> CHUNK_BITS][start..start + self.per_row]
    }

    #[inline]
    fn row_mut(&mut self, r: usize) -> &mut [T] {
        if self.per_row == 0 {
            return &mut [];
        }
        let start = (r & (CHUNK_ROWS - 1)) * self.per_row;
        &mut self.chunks[r >> CHUNK_BITS][start..start + self.per_row]
    }
}

/// The rows of one shard, `per_row` words each, in chunks of as many rows as fit in one huge
/// page ([`HUGE_PAGE`]), so a shard that grows never copies more than one chunk. The first chunk
/// grows on the heap from 16 rows, doubling, until its next capacity would be [`LAZY_BYTES`];
/// then it moves into an anonymous map of a whole chunk on small pages, which take memory only
/// as rows are written (measured at 100k entities of 8 features: resident memory 2.03x the raw
/// payload with the doubled heap blocks, 1.79x with the maps; the unused part of a heap block
/// was found resident, why was not measured). Once
/// a shard needs a second chunk, the first moves into a map advised for huge pages as every
/// later chunk is (see [`Words`]). A small shard (under one chunk, ~18,700 rows of 14 words)
/// thus takes no whole huge page, and a large one is on huge pages throughout. Rows are never
/// removed, so a new row is all zeros.
#[derive(Debug)]
struct RowWords {
    chunks: Vec<Words>,
    per_row: usize,
    chunk_rows: usize,
    rows: usize,
}

impl RowWords {
    fn new(per_row: usize) -> Self {
        Self {
            chunks: Vec::new(),
            per_row,
            chunk_rows: (HUGE_PAGE / 8 / per_row.max(1)).max(1),
            rows: 0,
        }
    }

    /// Append one row of zeros.
    fn push_row(&mut self) {
        let c = self.rows / self.chunk_rows;
        self.rows += 1;
        if self.per_row == 0 {
            return;
        }
        let full = self.chunk_rows * self.per_row;
        if c == 0 {
            let first = match self.chunks.first_mut() {
                Some(first) => first,
                None => {
                    self.chunks.push(Words::default());
                    &mut self.chunks[0]
                }
            };
            if first.len() >= full {
                // Already a whole chunk in a map whose unwritten pages take no memory.
                return;
            }
            let doubled = (first.len() * 2).clamp(16 * self.per_row, full);
            if first.len() + self.per_row > first.capacity() && doubled * 8 >= LAZY_BYTES {
                let mut mapped = Words::zeroed_in(full, true, false);
                mapped[..first.len()].copy_from_slice(first);
                *first = mapped;
                return;
            }
            first.extend_zeroed(self.per_row, doubled);
            return;
        }
        if c == self.chunks.len() {
            if c == 1 && !self.chunks[0].is_huge() {
                let mut first = Words::zeroed(full, true);
                first.copy_from_slice(&self.chunks[0]);
                self.chunks[0] = first;
            }
            self.chunks.push(Words::zeroed(full, true));
        }
    }

    #[inline]
    fn row(&self, r: usize) -> &[u64] {
        if self.per_row == 0 {
            return &[];
        }
        let start = (r % self.chunk_rows) * self.per_row;
        &self.chunks[r / self.chunk_rows][start..start + self.per_row]
    }

    #[inline]
    fn row_mut(&mut self, r: usize) -> &mut [u64] {
        if self.per_row == 0 {
            return &mut [];
        }
        let start = (r % self.chunk_rows) * self.per_row;
        &mut self.chunks[r / self.chunk_rows][start..start + self.per_row]
    }
}

/// One shard: the index, the rows (header, null bits, fixed-width values) and the
/// variable-width values. A row's header is its event time, its created time and its key's
/// three inline words, or [`HEAP_KEY`] and the key's place in `long_keys`; the key words'
/// [`TOMB`] bit marks an evicted row.
#[derive(Debug)]
struct Shard {
    layout: Arc<Layout>,
    index: RowIndex,
    data: RowWords,
    vars: Chunks<Value>,
    /// Keys longer than an inline key, in the order their rows were added.
    long_keys: Vec<EntityKey>,
    n_rows: usize,
    /// Number of tombstones.
    n_tombs: usize,
}

#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_possible_truncation
)]
impl Shard {
    fn new(layout: Arc<Layout>) -> Self {
        Self {
            data: RowWords::new(layout.stride),
            vars: Chunks::new(layout.n_var),
            layout,
            index: RowIndex::default(),
            long_keys: Vec::new(),
            n_rows: 0,
            n_tombs: 0,
        }
    }

    /// The row of `key` (whose hash is `hash`): one probe of the index (its slots hold a
    /// fragment of the hash, so rows of other keys are rarely read) and one key compare in the
    /// row itself.
    #[inline]
    fn find(&self, hash: u64, key: &EntityKey) -> Option<usize> {
        let fragment = hash as u32;
        match key.inline_words() {
            Some(w) => self.index.find(fragment, |r| {
                let d = self.data.row(r);
                d[2] & !TOMB == w[0] && d[3] == w[1] && d[4] == w[2]
            }),
            None => self.index.find(fragment, |r| {
                let d = self.data.row(r);
                d[2] & !TOMB == HEAP_KEY && self.long_keys[d[3] as usize] == *key
            }),
        }
    }

    fn is_tomb(&self, r: usize) -> bool {
        self.data.row(r)[2] & TOMB != 0
    }

    /// Mark row `r` evicted; `true` when it was not already.
    fn set_tomb(&mut self, r: usize) -> bool {
        let d = self.data.row_mut(r);
        let was = d[2] & TOMB != 0;
        d[2] |= TOMB;
        if !was {
            self.n_tombs += 1;
        }
        !was
    }

    /// The key of row `r`, rebuilt from its inline words or taken from `long_keys`.
    fn key_of(&self, r: usize) -> EntityKey {
        let d = self.data.row(r);
        let w0 = d[2] & !TOMB;
        if w0 == HEAP_KEY {
            self.long_keys[d[3] as usize].clone()
        } else {
            EntityKey::from_inline_words([w0, d[3], d[4]])
        }
    }

    /// Upsert one row; `false` when the stored version is newer.
    ///
    /// # Errors
    /// The shard already holds [`RowIndex::MAX_ROW`] rows.
    fn upsert(&mut self, hash: u64, row: &FeatureRow) -> Result<bool> {
        let version = (
            row.event_ts.as_micros(),
            row.effective_created().as_micros(),
        );
        let r = if let Some(r) = self.find(hash, &row.key) {
            let d = self.data.row(r);
            if version < (d[0] as i64, d[1] as i64) {
                return Ok(false);
            }
            if d[2] & TOMB != 0 {
                self.n_tombs -= 1;
            }
            r
        } else {
            let r = self.n_rows;
            if r > RowIndex::MAX_ROW {
                return Err(FeatureError::invalid(
                    "online store",
                    format!("a shard of the in-memory store holds at most {r} rows"),
                ));
            }
            let words = row.key.inline_words().unwrap_or_else(|| {
                self.long_keys.push(row.key.clone());
                [HEAP_KEY, (self.long_keys.len() - 1) as u64, 0]
            });
            self.data.push_row();
            self.vars.push_row(Value::Null);
            self.data.row_mut(r)[2..HEADER].copy_from_slice(&words);
            self.index.insert(hash as u32, r);
            self.n_rows += 1;
            r
        };
        self.store(r, row);
        Ok(true)
    }

    /// Write a row's version and values (clearing its tombstone mark); its key words stay.
    fn store(&mut self, r: usize, row: &FeatureRow) {
        let layout = &*self.layout;
        let data = self.data.row_mut(r);
        data[0] = row.event_ts.as_micros() as u64;
        data[1] = row.effective_created().as_micros() as u64;
        data[2] &= !TOMB;
        data[HEADER..HEADER + layout.null_words].fill(0);
        let vars = self.vars.row_mut(r);
        for (j, col) in layout.cols.iter().enumerate() {
            let v = row.values.get(j).unwrap_or(&Value::Null);
            if v.is_null() {
                data[HEADER + j / 64] |= 1 << (j % 64);
            }
            match *col {
                Col::Fixed(k) => data[layout.fixed_at(k)] = encode_fixed(v),
                Col::Var(k) => vars[k].clone_from(v),
            }
        }
    }

    fn read_into(&self, r: usize, features: &[usize], now: i64, out: &mut [FeatureValue]) {
        let layout = &*self.layout;
        let data = self.data.row(r);
        let event = data[0] as i64;
        let event_ts = Some(Timestamp::from_micros(event));
        // A tombstone's values are gone: it reads as expired even to a read "in the past".
        if data[2] & TOMB != 0
            || layout
                .ttl
                .is_some_and(|ttl| now.saturating_sub(event) > ttl)
        {
            for slot in out.iter_mut() {
                slot.value = Value::Null;
                slot.status = FeatureStatus::OutsideMaxAge;
                slot.event_ts = event_ts;
            }
            return;
        }
        for (slot, &j) in out.iter_mut().zip(features) {
            slot.event_ts = event_ts;
            if data[HEADER + j / 64] & (1 << (j % 64)) != 0 {
                slot.value = Value::Null;
                slot.status = FeatureStatus::Null;
                continue;
            }
            slot.status = FeatureStatus::Present;
            match layout.cols[j] {
                Col::Fixed(k) => {
                    slot.value = decode_fixed(layout.types[j], data[layout.fixed_at(k)]);
                }
                Col::Var(k) => slot.value.clone_from(&self.vars.row(r)[k]),
            }
        }
    }

    fn row_value(&self, r: usize, j: usize) -> Value {
        let layout = &*self.layout;
        let data = self.data.row(r);
        if j >= layout.cols.len() || data[HEADER + j / 64] & (1 << (j % 64)) != 0 {
            return Value::Null;
        }
        match layout.cols[j] {
            Col::Fixed(k) => decode_fixed(layout.types[j], data[layout.fixed_at(k)]),
            Col::Var(k) => self.vars.row(r)[k].clone(),
        }
    }

    /// Re-lay the rows out for a new layout (features appended, TTL changed).
    fn migrate(&mut self, layout: Arc<Layout>) {
        let old = std::mem::replace(&mut self.layout, layout);
        let new = Arc::clone(&self.layout);
        let mut data = RowWords::new(new.stride);
        let mut vars = Chunks::new(new.n_var);
        for r in 0..self.n_rows {
            data.push_row();
            vars.push_row(Value::Null);
            let (od, ov) = (self.data.row(r), self.vars.row_mut(r));
            let (nd, nv) = (data.row_mut(r), vars.row_mut(r));
            nd[..HEADER].copy_from_slice(&od[..HEADER]);
            for j in 0..new.cols.len() {
                let v = if j < old.cols.len() && od[HEADER + j / 64] & (1 << (j % 64)) == 0 {
                    match old.cols[j] {
                        Col::Fixed(k) => decode_fixed(old.types[j], od[old.fixed_at(k)]),
                        Col::Var(k) => std::mem::take(&mut ov[k]),
                    }
                } else {
                    Value::Null
                };
                if v.is_null() {
                    nd[HEADER + j / 64] |= 1 << (j % 64);
                }
                match new.cols[j] {
                    Col::Fixed(k) => nd[new.fixed_at(k)] = encode_fixed(&v),
                    Col::Var(k) => nv[k] = v,
                }
            }
        }
        self.data = data;
        self.vars = vars;
    }

    /// Turn every live row older than the TTL at `now` into a tombstone: its variable-width
    /// values are freed and its null bits set, its key and version stay, so reads keep
    /// answering `OutsideMaxAge` and an older late row cannot take its place.
    fn evict(&mut self, now: i64) -> usize {
        let Some(ttl) = self.layout.ttl else {
            return 0;
        };
        let layout = Arc::clone(&self.layout);
        let mut removed = 0;
        for r in 0..self.n_rows {
            let d = self.data.row_mut(r);
            if d[2] & TOMB != 0 || now.saturating_sub(d[0] as i64) <= ttl {
                continue;
            }
            d[2] |= TOMB;
            removed += 1;
            for j in 0..layout.cols.len() {
                d[HEADER + j / 64] |= 1 << (j % 64);
                if let Col::Fixed(k) = layout.cols[j] {
                    d[layout.fixed_at(k)] = 0;
                }
            }
            self.vars.row_mut(r).fill(Value::Null);
        }
        self.n_tombs += removed;
        removed
    }
}

/// The lock of one shard. Readers lock a slot chosen by their thread, each slot on its own cache
/// line, so concurrent reads on different cores write to no shared cache line (a plain
/// read-write lock's reader count would bounce between the cores on every read); a writer locks
/// every slot. Poisoning is ignored, as with `parking_lot` locks.
#[derive(Debug)]
struct ShardLock(ShardedLock<Shard>);

impl ShardLock {
    fn new(shard: Shard) -> Self {
        Self(ShardedLock::new(shard))
    }

    fn read(&self) -> ShardedLockReadGuard<'_, Shard> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> ShardedLockWriteGuard<'_, Shard> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct Table {
    def: RwLock<FeatureGroup>,
    hasher: DefaultHashBuilder,
    shards: Box<[ShardLock]>,
}

impl Table {
    fn new(group: &FeatureGroup) -> Self {
        let layout = Arc::new(Layout::of(group));
        Self {
            def: RwLock::new(group.clone()),
            hasher: DefaultHashBuilder::default(),
            shards: (0..SHARDS)
                .map(|_| ShardLock::new(Shard::new(Arc::clone(&layout))))
                .collect(),
        }
    }

    #[allow(clippy::cast_possible_truncation)]
    fn shard_of(hash: u64) -> usize {
        // The top bits pick the shard; the shard's index uses the low 32 bits.
        (hash >> (64 - SHARD_BITS)) as usize
    }
}

/// The in-memory online store. Clones share state.
///
/// ```
/// use mlops_features::{EntityKey, FeatureGroup, FeatureRow, InMemoryOnlineStore, KeyType,
///     OnlineStore, ReadRequest, FeatureValue, FeatureStatus, Timestamp, Value, ValueType};
/// let store = InMemoryOnlineStore::new();
/// let g = FeatureGroup::builder("users").entity("user_id", KeyType::String)
///     .feature("age", ValueType::Int64).build()?;
/// store.apply_group(&g)?;
/// store.write_batch("users", &[FeatureRow::new("u1", Timestamp::from_secs(1), vec![Value::Int64(30)])])?;
/// let keys = [EntityKey::from("u1"), EntityKey::from("u2")];
/// let mut out = vec![FeatureValue::default(); 2];
/// store.read(&ReadRequest::new("users", &keys, &[0], Timestamp::from_secs(2)), &mut out)?;
/// assert_eq!(out[0].value, Value::Int64(30));
/// assert_eq!(out[1].status, FeatureStatus::NotFound);
/// # Ok::<(), mlops_features::FeatureError>(())
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryOnlineStore {
    inner: Arc<MemOnline>,
}

#[derive(Debug)]
struct MemOnline {
    tables: ArcSwap<HashMap<String, Arc<Table>>>,
    apply: Mutex<()>,
}

impl Default for InMemoryOnlineStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryOnlineStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(MemOnline {
                tables: ArcSwap::from_pointee(HashMap::new()),
                apply: Mutex::new(()),
            }),
        }
    }

    fn table(&self, group: &str) -> Result<Arc<Table>> {
        self.inner
            .tables
            .load()
            .get(group)
            .cloned()
            .ok_or_else(|| FeatureError::not_found(EntityKind::FeatureGroup, group))
    }

    /// Check a schema change without applying it.
    pub(crate) fn check_apply(&self, group: &FeatureGroup) -> Result<()> {
        group.validate()?;
        if let Ok(t) = self.table(&group.name) {
            t.def.read().check_evolution(group)?;
        }
        Ok(())
    }

    /// Restore evicted rows (tombstones) of a snapshot: stored, then marked evicted.
    pub(crate) fn restore_tombstones(&self, group: &str, rows: &[FeatureRow]) -> Result<()> {
        let table = self.table(group)?;
        for row in rows {
            let h = table.hasher.hash_one(&row.key);
            let mut shard = table.shards[Table::shard_of(h)].write();
            shard.upsert(h, row)?;
            if let Some(r) = shard.find(h, &row.key) {
                shard.set_tomb(r);
            }
        }
        Ok(())
    }

    /// Validate a batch against the stored group definition; returns the definition.
    pub(crate) fn check_rows(&self, group: &str, rows: &[FeatureRow]) -> Result<FeatureGroup> {
        let def = self.table(group)?.def.read().clone();
        def.validate_rows(rows)?;
        Ok(def)
    }

    /// Visit every stored row of a group (for snapshots): key, version and values.
    /// `f` gets each row and whether it is a tombstone (evicted: version kept, values gone).
    pub(crate) fn for_each_row(
        &self,
        group: &str,
        mut f: impl FnMut(FeatureRow, bool),
    ) -> Result<()> {
        let table = self.table(group)?;
        for shard in &*table.shards {
            let shard = shard.read();
            let n = shard.layout.cols.len();
            for r in 0..shard.n_rows {
                let d = shard.data.row(r);
                #[allow(clippy::cast_possible_wrap)]
                f(
                    FeatureRow {
                        key: shard.key_of(r),
                        event_ts: Timestamp::from_micros(d[0] as i64),
                        created_ts: Some(Timestamp::from_micros(d[1] as i64)),
                        values: (0..n).map(|j| shard.row_value(r, j)).collect(),
                    },
                    shard.is_tomb(r),
                );
            }
        }
        Ok(())
    }
}

impl OnlineStore for InMemoryOnlineStore {
    fn apply_group(&self, group: &FeatureGroup) -> Result<()> {
        let _guard = self.inner.apply.lock();
        group.validate()?;
        let current = self.inner.tables.load_full();
        if let Some(t) = current.get(&group.name) {
            let evolved = t.def.read().check_evolution(group)?;
            let layout = Arc::new(Layout::of(&evolved));
            let mut def = t.def.write();
            for shard in &*t.shards {
                shard.write().migrate(Arc::clone(&layout));
            }
            *def = evolved;
            return Ok(());
        }
        let mut next = (*current).clone();
        next.insert(group.name.clone(), Arc::new(Table::new(group)));
        self.inner.tables.store(Arc::new(next));
        Ok(())
    }

    fn write_batch_at(
        &self,
        group: &str,
        rows: &[FeatureRow],
        now: Timestamp,
    ) -> Result<WriteStats> {
        let table = self.table(group)?;
        let def = table.def.read();
        def.validate_rows(rows)?;
        let mut stats = WriteStats::default();
        // Group the rows by shard so each shard lock is taken once, keeping arrival order.
        let mut order: Vec<(u32, u64)> = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            if def.is_expired(row.event_ts, now) {
                stats.expired += 1;
                continue;
            }
            #[allow(clippy::cast_possible_truncation)]
            order.push((i as u32, table.hasher.hash_one(&row.key)));
        }
        order.sort_by_key(|&(i, h)| (Table::shard_of(h), i));
        let mut i = 0;
        while i < order.len() {
            let s = Table::shard_of(order[i].1);
            let mut shard = table.shards[s].write();
            while i < order.len() && Table::shard_of(order[i].1) == s {
                let (r, h) = order[i];
                if shard.upsert(h, &rows[r as usize])? {
                    stats.written += 1;
                } else {
                    stats.stale += 1;
                }
                i += 1;
            }
        }
        Ok(stats)
    }

    fn read(&self, req: &ReadRequest<'_>, out: &mut [FeatureValue]) -> Result<()> {
        let tables = self.inner.tables.load();
        let table = tables
            .get(req.group)
            .ok_or_else(|| FeatureError::not_found(EntityKind::FeatureGroup, req.group))?;
        if out.len() < req.out_len() {
            return Err(FeatureError::invalid(
                "read request",
                format!("output has {} slots, {} needed", out.len(), req.out_len()),
            ));
        }
        let now = req.now.as_micros();
        let nf = req.features.len();
        let max_feature = req.features.iter().copied().max();
        for (i, key) in req.keys.iter().enumerate() {
            let hash = table.hasher.hash_one(key);
            let shard = table.shards[Table::shard_of(hash)].read();
            if let Some(bad) = max_feature.filter(|&m| m >= shard.layout.cols.len()) {
                return Err(FeatureError::not_found(
                    EntityKind::Feature,
                    format!("{}:#{bad}", req.group),
                ));
            }
            let start = i * req.stride + req.offset;
            let slots = &mut out[start..start + nf];
            if let Some(r) = shard.find(hash, key) {
                shard.read_into(r, req.features, now, slots);
                continue;
            }
            drop(shard);
            // A miss: a key of the wrong shape can never match, so say so rather than
            // "not found" (checked on misses only, so hits pay nothing).
            table.def.read().check_key(key)?;
            for slot in slots {
                slot.value = Value::Null;
                slot.status = FeatureStatus::NotFound;
                slot.event_ts = None;
            }
        }
        Ok(())
    }

    fn evict_expired(&self, now: Timestamp) -> Result<usize> {
        let tables = self.inner.tables.load_full();
        let mut removed = 0;
        for table in tables.values() {
            for shard in &*table.shards {
                removed += shard.write().evict(now.as_micros());
            }
        }
        Ok(removed)
    }

    fn entity_count(&self, group: &str) -> Result<usize> {
        let table = self.table(group)?;
        Ok(table
            .shards
            .iter()
            .map(|s| {
                let s = s.read();
                s.index.len() - s.n_tombs
            })
            .sum())
    }

    fn groups(&self) -> Result<Vec<FeatureGroup>> {
        let tables = self.inner.tables.load();
        let mut out: Vec<FeatureGroup> = tables.values().map(|t| t.def.read().clone()).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// The in-memory offline store: rows per group in arrival order. Clones share state.
#[derive(Debug, Default, Clone)]
pub struct InMemoryOfflineStore {
    inner: Arc<RwLock<std::collections::BTreeMap<String, Vec<FeatureRow>>>>,
}

impl InMemoryOfflineStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl OfflineStore for InMemoryOfflineStore {
    fn append(&self, group: &str, rows: &[FeatureRow]) -> Result<()> {
        validate_name("feature group name", group)?;
        self.inner
            .write()
            .entry(group.to_owned())
            .or_default()
            .extend_from_slice(rows);
        Ok(())
    }

    fn scan(&self, group: &str, options: &ScanOptions, visit: &mut Visit<'_>) -> Result<()> {
        let inner = self.inner.read();
        if let Some(rows) = inner.get(group) {
            for row in rows.iter().filter(|r| options.contains(r.event_ts)) {
                if visit(row).is_break() {
                    break;
                }
            }
        }
        Ok(())
    }

    fn groups(&self) -> Result<Vec<String>> {
        Ok(self.inner.read().keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests;
