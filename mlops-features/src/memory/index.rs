//! The index of one shard of the in-memory online store: an open-addressing hash table whose
//! slot is one `u64`, a 32-bit fragment of the key's hash above a 32-bit row number, so a probe
//! reads consecutive words of one cache line (eight slots) and a hit costs one cache miss in
//! the index, then one in the row.
//!
//! The slot's position is taken from the top bits of the fragment, so growing the table moves
//! slots without reading a row or hashing a key again. Rows are never removed (an evicted row
//! stays as a tombstone), so linear probing needs no deletion markers: a lookup stops at the
//! first empty slot.
//!
//! A table of 2 MiB or more (past ~100,000 rows in a shard) is mapped on huge pages (see
//! [`Words`]), so that the probe's page walk mostly hits the TLB.

use super::words::{HUGE_PAGE, Words};

/// An empty slot. A used slot stores `row + 1` in its low half, so it is never zero.
const EMPTY: u64 = 0;
/// Fewest slots of a table that holds anything.
const MIN_BITS: u32 = 3;

/// Hash fragment → row number, for one shard.
#[derive(Debug, Default)]
pub(super) struct RowIndex {
    /// `fragment << 32 | (row + 1)`, or [`EMPTY`]; the length is a power of two (or zero).
    slots: Words,
    /// `log2(slots.len())`.
    bits: u32,
    /// Used slots.
    len: usize,
}

impl RowIndex {
    /// Largest row number the index can hold.
    pub(super) const MAX_ROW: usize = u32::MAX as usize - 1;

    /// Number of rows indexed.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn home(&self, fragment: u32) -> usize {
        // `bits` is at least MIN_BITS whenever there are slots.
        (fragment >> (32 - self.bits)) as usize
    }

    /// The first row whose fragment is `fragment` and for which `is_key(row)` holds.
    #[inline]
    pub(super) fn find(
        &self,
        fragment: u32,
        mut is_key: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let want = u64::from(fragment);
        let mut pos = self.home(fragment);
        loop {
            let slot = self.slots[pos];
            if slot == EMPTY {
                return None;
            }
            if slot >> 32 == want {
                let row = (slot as u32 - 1) as usize;
                if is_key(row) {
                    return Some(row);
                }
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Index `row` under `fragment`; the caller knows the key is not indexed yet and that
    /// `row <= MAX_ROW`. Grows the table past a load of 3/4.
    pub(super) fn insert(&mut self, fragment: u32, row: usize) {
        debug_assert!(row <= Self::MAX_ROW);
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        #[allow(clippy::cast_possible_truncation)]
        let slot = u64::from(fragment) << 32 | (row as u64 + 1);
        self.place(slot);
        self.len += 1;
    }

    fn place(&mut self, slot: u64) {
        let mask = self.slots.len() - 1;
        #[allow(clippy::cast_possible_truncation)]
        let mut pos = self.home((slot >> 32) as u32);
        while self.slots[pos] != EMPTY {
            pos = (pos + 1) & mask;
        }
        self.slots[pos] = slot;
    }

    /// Double the slots (at least [`MIN_BITS`]) and re-place every used slot: its new home
    /// comes from its own fragment, so no row is read.
    fn grow(&mut self) {
        let bits = (self.bits + 1).max(MIN_BITS);
        let n = 1usize << bits;
        let old = std::mem::replace(&mut self.slots, Words::zeroed(n, n * 8 >= HUGE_PAGE));
        self.bits = bits;
        for slot in old.iter().copied().filter(|&s| s != EMPTY) {
            self.place(slot);
        }
    }

    /// Bytes held by the slots.
    #[cfg(test)]
    pub(super) fn slot_bytes(&self) -> usize {
        self.slots.len() * 8
    }

    /// Whether the slots are in a map advised for huge pages.
    #[cfg(test)]
    pub(super) fn is_huge(&self) -> bool {
        self.slots.is_huge()
    }
}

#[cfg(test)]
mod tests {
    use super::RowIndex;

    #[test]
    fn growth_keeps_every_row_and_fragment_collisions_are_resolved_by_the_key() {
        let mut index = RowIndex::default();
        assert_eq!(index.find(7, |_| true), None);
        // Fragments that collide in their top bits (same home) and fully (same fragment), so
        // lookups must walk past slots of other keys.
        let frag = |i: usize| -> u32 {
            #[allow(clippy::cast_possible_truncation)]
            if i.is_multiple_of(97) {
                42
            } else if i.is_multiple_of(3) {
                0xdead_0000 | (i as u32 & 0xff)
            } else {
                (i as u32).wrapping_mul(0x9e37_79b9)
            }
        };
        let n = 20_000;
        for row in 0..n {
            index.insert(frag(row), row);
            // Every row inserted so far is still found, at every growth step.
            if row.is_power_of_two() || row == n - 1 {
                for r in 0..=row {
                    assert_eq!(
                        index.find(frag(r), |c| c == r),
                        Some(r),
                        "row {r} after {row}"
                    );
                }
            }
        }
        assert_eq!(index.len(), n);
        assert!(index.slot_bytes() <= n * 8 * 8 / 3, "load stays above 3/8");
        assert_eq!(index.find(frag(5), |_| false), None);
    }

    #[test]
    fn a_table_of_two_mib_or_more_is_on_huge_pages() {
        let mut index = RowIndex::default();
        #[allow(clippy::cast_possible_truncation)]
        let frag = |i: usize| (i as u32).wrapping_mul(0x9e37_79b9);
        // 150,000 rows need 2^18 slots (2 MiB) at a load of at most 3/4.
        let n = 150_000;
        for row in 0..n {
            index.insert(frag(row), row);
            if row == 1_000 {
                assert!(!index.is_huge(), "a small table stays on the heap");
            }
        }
        assert_eq!(index.slot_bytes(), 2 << 20);
        assert_eq!(index.is_huge(), cfg!(target_os = "linux"));
        for row in 0..n {
            assert_eq!(index.find(frag(row), |c| c == row), Some(row));
        }
    }

    proptest::proptest! {
        /// Random keys (fragments drawn from a few values, so they collide) against a
        /// `HashMap` model: after every insert, every key probed finds its row, and only it.
        #[test]
        fn index_matches_a_hash_map(
            keys in proptest::collection::vec((0u32..64, 0u32..8), 1..600),
            probes in proptest::collection::vec((0u32..64, 0u32..8), 1..40),
        ) {
            // A key is (fragment index, tag); its fragment keeps only the index, spread over
            // the top bits, so keys of one index share a fragment.
            let frag = |k: (u32, u32)| k.0.wrapping_mul(0x0400_0000) ^ (k.0 & 3);
            let mut index = RowIndex::default();
            let mut model = std::collections::HashMap::new();
            let mut row_key = Vec::new();
            for &k in &keys {
                if model.contains_key(&k) {
                    continue;
                }
                let row = row_key.len();
                row_key.push(k);
                model.insert(k, row);
                index.insert(frag(k), row);
                proptest::prop_assert_eq!(index.len(), model.len());
                for &p in probes.iter().chain(std::iter::once(&k)) {
                    let found = index.find(frag(p), |r| row_key[r] == p);
                    proptest::prop_assert_eq!(found, model.get(&p).copied());
                }
            }
        }
    }
}
