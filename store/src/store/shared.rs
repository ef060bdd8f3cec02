//! What the series of one metric share: their attribute keys, and the string values that
//! repeat among them.
//!
//! The series of a metric almost always use the same few keys, and most of their values come
//! from small sets (status codes, methods, outcomes, regions): one `Arc<str>` per key and per
//! repeating value, instead of an allocation for every series, saves a heap block (32 bytes
//! with glibc for a short string) per key and per such value of every series.
//!
//! Both are bounded, so a metric whose series bring ever new keys or values cannot grow them
//! without limit: past [`KEYS_SHARED_MAX`] keys or [`VALUES_SHARED_MAX`] values, new ones are
//! allocated per series as before. A key whose values do not repeat (identifiers, URLs with
//! ids) stops being looked up once [`LOOKUPS_TO_DECIDE`] of its values found fewer than a
//! quarter already there: its values are allocated per series, without the shared value's
//! reference counts. Values no series holds any more are dropped by [`Shared::sweep`], which
//! expiry calls.

use std::sync::Arc;

use hashbrown::HashTable;

use super::attrs::{AttrValue, OwnedValue};

/// Keys shared per metric, at most.
const KEYS_SHARED_MAX: usize = 64;
/// Values shared per metric, at most.
pub(super) const VALUES_SHARED_MAX: usize = 4096;
/// Lookups of a key's values before deciding whether they repeat.
pub(super) const LOOKUPS_TO_DECIDE: u32 = 64;

/// The keys and repeating values of one metric's series.
#[derive(Default)]
pub(crate) struct Shared {
    keys: Vec<Key>,
    values: HashTable<Arc<str>>,
    hasher: ahash::RandomState,
}

/// A shared key, with how often its values were found already shared.
struct Key {
    key: Arc<str>,
    lookups: u32,
    hits: u32,
}

impl Key {
    fn repeats(&self) -> bool {
        self.lookups < LOOKUPS_TO_DECIDE || self.hits.saturating_mul(4) >= self.lookups
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Shared({} keys, {} values)",
            self.keys.len(),
            self.values.len()
        )
    }
}

impl Shared {
    /// The owned form of attribute `key` = `value`, sharing what can be shared.
    pub(crate) fn attribute(&mut self, key: &str, value: &AttrValue<'_>) -> (Arc<str>, OwnedValue) {
        let slot = match self.keys.iter().position(|k| *k.key == *key) {
            Some(i) => Some(i),
            None if self.keys.len() < KEYS_SHARED_MAX => {
                self.keys.push(Key {
                    key: Arc::from(key),
                    lookups: 0,
                    hits: 0,
                });
                Some(self.keys.len() - 1)
            }
            None => None,
        };
        let Some(i) = slot else {
            return (Arc::from(key), OwnedValue::from_ref(value));
        };
        let key = self.keys[i].key.clone();
        let AttrValue::Str(text) = *value else {
            return (key, OwnedValue::from_ref(value));
        };
        if !self.keys[i].repeats() {
            return (key, OwnedValue::Str(text.into()));
        }
        let hash = self.hasher.hash_one(text);
        let stats = &mut self.keys[i];
        stats.lookups = stats.lookups.saturating_add(1);
        if let Some(found) = self.values.find(hash, |v| **v == *text) {
            stats.hits = stats.hits.saturating_add(1);
            return (key, OwnedValue::SharedStr(found.clone()));
        }
        let shared: Arc<str> = Arc::from(text);
        if self.values.len() < VALUES_SHARED_MAX {
            let hasher = &self.hasher;
            self.values
                .insert_unique(hash, shared.clone(), |v| hasher.hash_one(&**v));
        }
        (key, OwnedValue::SharedStr(shared))
    }

    /// Drop the values no series holds any more.
    pub(crate) fn sweep(&mut self) {
        self.values.retain(|v| Arc::strong_count(v) > 1);
    }

    /// Values held.
    #[cfg(test)]
    pub(crate) fn values(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(shared: &mut Shared, key: &str, value: &str) -> OwnedValue {
        shared.attribute(key, &AttrValue::Str(value)).1
    }

    #[test]
    fn keys_are_shared_up_to_the_bound() {
        let mut shared = Shared::default();
        let keys: Vec<Arc<str>> = (0..KEYS_SHARED_MAX + 3)
            .map(|i| shared.attribute(&format!("k{i}"), &AttrValue::Int(1)).0)
            .collect();
        assert_eq!(shared.keys.len(), KEYS_SHARED_MAX, "bounded");
        assert_eq!(&*keys[KEYS_SHARED_MAX + 2], "k66");
        let again = shared.attribute("k0", &AttrValue::Int(2)).0;
        assert!(Arc::ptr_eq(&again, &keys[0]));
    }

    #[test]
    fn repeating_values_are_shared_and_unique_ones_stop_being_looked_up() {
        let mut shared = Shared::default();
        let a = text(&mut shared, "status", "ok");
        let b = text(&mut shared, "status", "ok");
        match (&a, &b) {
            (OwnedValue::SharedStr(x), OwnedValue::SharedStr(y)) => assert!(Arc::ptr_eq(x, y)),
            other => panic!("{other:?}"),
        }
        assert_eq!(a, OwnedValue::Str("ok".into()));
        // A key whose values never repeat is given up on after LOOKUPS_TO_DECIDE of them.
        let ids: Vec<OwnedValue> = (0..200)
            .map(|i| text(&mut shared, "id", &format!("id-{i}")))
            .collect();
        assert!(matches!(ids[0], OwnedValue::SharedStr(_)));
        assert!(matches!(ids[199], OwnedValue::Str(_)));
        assert_eq!(shared.values(), 1 + LOOKUPS_TO_DECIDE as usize);
        // Values no series holds are dropped by the sweep.
        drop(ids);
        shared.sweep();
        assert_eq!(shared.values(), 1);
        drop((a, b));
        shared.sweep();
        assert_eq!(shared.values(), 0);
    }
}
