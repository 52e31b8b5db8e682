//! The reducer's large maps built with full nodes. A `BTreeMap` filled one key at a time keeps
//! its nodes two thirds full on average (half full when the keys come in order, as they do from
//! a snapshot); one built from a sorted list fills them. For a state that is mostly read, such
//! as the one a node starts with, that is a third of the maps' memory or more.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

/// Rebuilds `map` with full nodes.
pub(super) fn pack<K: Ord, V>(map: &mut BTreeMap<K, V>) {
    *map = std::mem::take(map).into_iter().collect();
}

/// Reads a map (`#[serde(deserialize_with = "packed::map")]`) and builds it with full nodes.
pub(super) fn map<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    struct Pairs<K, V>(PhantomData<(K, V)>);

    impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for Pairs<K, V> {
        type Value = BTreeMap<K, V>;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            // The length comes from the input: trust it only so far.
            let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(pair) = access.next_entry()? {
                pairs.push(pair);
            }
            Ok(pairs.into_iter().collect())
        }
    }

    deserializer.deserialize_map(Pairs(PhantomData))
}
