//! [`VecMap`]: a small map kept as one sorted vector, for the params, tags and latest metrics of
//! every run the catalogs hold.
//!
//! A store holds a catalog entry per run, and a run holds a handful of params, tags and metric
//! keys: a `BTreeMap` spends a 500-byte node on each of them however few entries it has, a sorted
//! vector with its capacity kept at its length spends only the entries. Lookups are binary
//! searches; an insert moves the entries after it (linear, fine for the tens of keys a run has).

use std::borrow::Borrow;

/// A map over a vector sorted by key, with no spare capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value of `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The value of `key`, mutable.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    /// Set `key` to `value`; the old value, if any.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                // Grow by exactly one: most runs never get another key.
                self.entries.reserve_exact(1);
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Set `key` to `value` unless it is set already.
    pub(crate) fn insert_if_absent(&mut self, key: K, value: impl FnOnce() -> V) {
        if let Err(i) = self.find(&key) {
            self.entries.reserve_exact(1);
            self.entries.insert(i, (key, value()));
        }
    }

    /// The entries in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Build from entries in any order; the last value of a repeated key wins.
    pub(crate) fn from_entries(mut entries: Vec<(K, V)>) -> Self {
        // A stable sort keeps repeated keys in their order: keep the last of each.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(K, V)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        out.shrink_to_fit();
        Self { entries: out }
    }
}

impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for VecMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(s)
    }
}

impl<'de, K, V> serde::Deserialize<'de> for VecMap<K, V>
where
    K: Ord + serde::Deserialize<'de>,
    V: serde::Deserialize<'de>,
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_entries(Vec::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        InsertIfAbsent(u8, u32),
        Get(u8),
        GetMut(u8, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..40, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0u8..40, any::<u32>()).prop_map(|(k, v)| Op::InsertIfAbsent(k, v)),
            (0u8..40).prop_map(Op::Get),
            (0u8..40, any::<u32>()).prop_map(|(k, v)| Op::GetMut(k, v)),
        ]
    }

    proptest! {
        /// Every operation agrees with a `BTreeMap`, and so do the entries after each one.
        #[test]
        fn agrees_with_a_btreemap(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ours = VecMap::default();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), model.insert(k, v)),
                    Op::InsertIfAbsent(k, v) => {
                        ours.insert_if_absent(k, || v);
                        model.entry(k).or_insert(v);
                    }
                    Op::Get(k) => prop_assert_eq!(ours.get(&k), model.get(&k)),
                    Op::GetMut(k, v) => {
                        let a = ours.get_mut(&k).map(|x| { *x = v; *x });
                        let b = model.get_mut(&k).map(|x| { *x = v; *x });
                        prop_assert_eq!(a, b);
                    }
                }
                prop_assert_eq!(ours.entries.len(), model.len());
                prop_assert!(ours.iter().eq(model.iter()));
                prop_assert_eq!(ours.entries.capacity(), ours.entries.len());
            }
        }

        /// Built from entries in any order, the last value of each key wins, as inserting
        /// them one by one into a `BTreeMap` does.
        #[test]
        fn from_entries_keeps_the_last(entries in proptest::collection::vec((0u8..20, any::<u32>()), 0..60)) {
            let model: BTreeMap<u8, u32> = entries.iter().copied().collect();
            let ours = VecMap::from_entries(entries);
            prop_assert!(ours.iter().eq(model.iter()));
        }
    }
}
