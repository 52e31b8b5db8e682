//! The reducer's large maps built with full nodes. A `BTreeMap` filled one key at a time keeps
//! its nodes two thirds full on average (half full when the keys come in order, as they do from
//! a snapshot); one built from a sorted list fills them. For a state that is mostly read, such
//! as the one a node starts with, that is a third of the maps' memory or more.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

/// Rebuilds `map` with full nodes.
pub(super) fn pack<K: Ord, V>(map: &mut BTreeMap<K, V>) {
    *map = std::mem::take(map).into_iter().collect();
}

/// Reads a map (`#[serde(deserialize_with = "packed::map")]`), its keys in order as a
/// `BTreeMap` writes them, and builds it with full nodes.
pub(super) fn map<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    Ok(SortedMap::<K, V>::deserialize(deserializer)?.merged.into_iter().collect())
}

/// A map kept as one sorted vector (no room between its entries, and none of a B-tree's
/// nodes), with the keys added since it was last merged in a small B-tree beside it.
///
/// For the reducer's largest maps (entries by hash prefix, posts, transfers): a million
/// entries' worth is read from a snapshot straight into its vector (no map built from a
/// temporary list, whose freeing left holes the allocator never gave back), and a catch-up
/// adding keys one at a time keeps the vector full, merging the recent keys in once they are an
/// eighth of it. Look-ups search both; iteration is in key order, as a `BTreeMap`'s.
#[derive(Clone)]
pub(super) struct SortedMap<K, V> {
    /// Sorted by key, each key once.
    merged: Vec<(K, V)>,
    /// Keys none of `merged` has.
    recent: BTreeMap<K, V>,
}

/// `recent` is merged into `merged` when it holds this many keys and an eighth of `merged`.
const MERGE_AT_LEAST: usize = 1024;

/// Shown as the map it is, in key order: two maps with the same keys and values look the same
/// however their keys are split between the vector and the recent ones.
impl<K: fmt::Debug + Ord, V: fmt::Debug> fmt::Debug for SortedMap<K, V> {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap { merged: Vec::new(), recent: BTreeMap::new() }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    pub fn len(&self) -> usize {
        self.merged.len() + self.recent.len()
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        in_order(self.merged.iter().map(|(k, v)| (k, v)), self.recent.iter(), |(k, _)| *k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }
}

impl<K: Ord + Clone, V: Clone> SortedMap<K, V> {
    fn index(&self, key: &K) -> Result<usize, usize> {
        self.merged.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        match self.index(key) {
            Ok(at) => self.merged.get(at).map(|(_, v)| v),
            Err(_) => self.recent.get(key),
        }
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.index(key) {
            Ok(at) => self.merged.get_mut(at).map(|(_, v)| v),
            Err(_) => self.recent.get_mut(key),
        }
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`'s value, giving back the one it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(found) = self.get_mut(&key) {
            return Some(std::mem::replace(found, value));
        }
        self.recent.insert(key, value);
        if self.recent.len() >= MERGE_AT_LEAST.max(self.merged.len() / 8) {
            self.merge();
        }
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        match self.index(key) {
            // Rare (a join request let go): moving the vector's tail is fine.
            Ok(at) => Some(self.merged.remove(at).1),
            Err(_) => self.recent.remove(key),
        }
    }

    /// Merges the recent keys into the vector and lets go of its spare room.
    pub fn pack(&mut self) {
        self.merge();
        self.merged.shrink_to_fit();
    }

    /// Moves `recent` into `merged`, in place from the back: the vector grows by as many
    /// places (filled with copies, overwritten), and each place from the end takes the larger
    /// of the two runs' last entries. No second vector of the whole map is ever made.
    fn merge(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let mut recent: Vec<(K, V)> = std::mem::take(&mut self.recent).into_iter().collect();
        let mut from = self.merged.len();
        self.merged.reserve_exact(recent.len());
        self.merged.extend(recent.iter().cloned());
        let mut to = self.merged.len();
        // Places `from..to` hold what is not placed yet; `to..` is final.
        while let Some((key, _)) = recent.last() {
            to -= 1;
            let older_is_larger = from > 0 && self.merged.get(from - 1).is_some_and(|(k, _)| k > key);
            if older_is_larger {
                from -= 1;
                self.merged.swap(from, to);
            } else if let Some(pair) = recent.pop()
                && let Some(place) = self.merged.get_mut(to)
            {
                *place = pair;
            }
        }
    }
}

/// Two runs sorted by `key`, with no key in both, read as one in that order.
pub(super) fn in_order<T, K: Ord>(
    first: impl Iterator<Item = T>,
    second: impl Iterator<Item = T>,
    key: impl Fn(&T) -> &K,
) -> impl Iterator<Item = T> {
    let (mut first, mut second) = (first.peekable(), second.peekable());
    std::iter::from_fn(move || match (first.peek(), second.peek()) {
        (Some(a), Some(b)) if key(b) < key(a) => second.next(),
        (Some(_), _) => first.next(),
        (None, _) => second.next(),
    })
}

impl<K: Serialize + Ord, V: Serialize> Serialize for SortedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for SortedMap<K, V> {
    /// Read straight into the vector; the keys must come in order, each once (as written).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Sorted<K, V>(PhantomData<(K, V)>);

        impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for Sorted<K, V> {
            type Value = SortedMap<K, V>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a map with its keys in order")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                // The length comes from the input: trust it only so far (reserving is not
                // touching: an overstated length costs address space, not memory).
                let mut merged: Vec<(K, V)> = Vec::with_capacity(access.size_hint().unwrap_or(0).min(1 << 22));
                while let Some((key, value)) = access.next_entry::<K, V>()? {
                    if merged.last().is_some_and(|(last, _)| *last >= key) {
                        return Err(serde::de::Error::custom("a map's keys out of order"));
                    }
                    merged.push((key, value));
                }
                merged.shrink_to_fit();
                Ok(SortedMap { merged, recent: BTreeMap::new() })
            }
        }

        deserializer.deserialize_map(Sorted(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Pack,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (any::<u16>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => any::<u16>().prop_map(Op::Remove),
            1 => Just(Op::Pack),
        ]
    }

    proptest! {
        #[test]
        fn answers_as_a_btree_map(ops in proptest::collection::vec(op(), 1..6000)) {
            let (mut sorted, mut model) = (SortedMap::default(), BTreeMap::new());
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(sorted.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(sorted.remove(&k), model.remove(&k)),
                    Op::Pack => sorted.pack(),
                }
                prop_assert_eq!(sorted.len(), model.len());
            }
            for k in [0u16, 1, 77, 1000, u16::MAX] {
                prop_assert_eq!(sorted.get(&k), model.get(&k));
            }
            let listed: Vec<(u16, u32)> = sorted.iter().map(|(k, v)| (*k, *v)).collect();
            let expected: Vec<(u16, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&listed, &expected);
            let bytes = postcard::to_allocvec(&sorted).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let read: SortedMap<u16, u32> = postcard::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let read: Vec<(u16, u32)> = read.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(read, expected);
        }
    }

    #[test]
    fn a_map_read_with_its_keys_out_of_order_is_refused() {
        let out_of_order: BTreeMap<u16, u32> = BTreeMap::from([(1, 10), (2, 20)]);
        let mut bytes = postcard::to_allocvec(&out_of_order).unwrap_or_default();
        // Swap the two keys (one byte each after the length).
        bytes.swap(1, 3);
        assert!(postcard::from_bytes::<SortedMap<u16, u32>>(&bytes).is_err());
    }
}
