//! A slab with a hash index: stable ids, O(1) lookup by a precomputed hash,
//! and collision chains verified by the caller's equality check.
//!
//! The store keys everything (resources, scopes, metrics, series) by a 64-bit
//! hash of the borrowed identity and confirms a hit by comparing the borrowed
//! identity with the stored one, so a lookup never builds an owned key.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hasher for keys that are already hashes.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

enum Bucket {
    One(u32),
    Many(Vec<u32>),
}

/// Entries of type `T`, each with the hash it was inserted under.
pub(crate) struct Table<T> {
    slots: Vec<Option<(u64, T)>>,
    free: Vec<u32>,
    index: IdMap<Bucket>,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            index: IdMap::default(),
            len: 0,
        }
    }
}

impl<T> Table<T> {
    /// Number of live entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Find the entry with `hash` for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<u32> {
        let mut check = |id: u32| match self.slots.get(id as usize) {
            Some(Some((_, t))) => eq(t),
            _ => false,
        };
        match self.index.get(&hash)? {
            Bucket::One(id) => check(*id).then_some(*id),
            Bucket::Many(ids) => ids.iter().copied().find(|id| check(*id)),
        }
    }

    /// Insert a new entry (the caller has checked it is not there).
    pub(crate) fn insert(&mut self, hash: u64, value: T) -> u32 {
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some((hash, value));
                id
            }
            None => {
                self.slots.push(Some((hash, value)));
                (self.slots.len() - 1) as u32
            }
        };
        match self.index.get_mut(&hash) {
            None => {
                self.index.insert(hash, Bucket::One(id));
            }
            Some(Bucket::One(other)) => {
                let other = *other;
                self.index.insert(hash, Bucket::Many(vec![other, id]));
            }
            Some(Bucket::Many(ids)) => ids.push(id),
        }
        self.len += 1;
        id
    }

    /// Remove an entry by id.
    pub(crate) fn remove(&mut self, id: u32) -> Option<T> {
        let (hash, value) = self.slots.get_mut(id as usize)?.take()?;
        let drop_key = match self.index.get_mut(&hash) {
            Some(Bucket::One(_)) => true,
            Some(Bucket::Many(ids)) => {
                ids.retain(|i| *i != id);
                if ids.len() == 1 {
                    let last = ids[0];
                    self.index.insert(hash, Bucket::One(last));
                }
                false
            }
            None => false,
        };
        if drop_key {
            self.index.remove(&hash);
        }
        self.free.push(id);
        self.len -= 1;
        Some(value)
    }

    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        self.slots.get(id as usize)?.as_ref().map(|(_, t)| t)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.slots.get_mut(id as usize)?.as_mut().map(|(_, t)| t)
    }

    /// Live entries with their ids.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|(_, t)| (i as u32, t)))
    }

    /// Live entries, mutable.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|(_, t)| (i as u32, t)))
    }

    /// Ids of live entries for which `f` holds.
    pub(crate) fn ids_where(&self, mut f: impl FnMut(&T) -> bool) -> Vec<u32> {
        self.iter().filter(|(_, t)| f(t)).map(|(i, _)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_hashes_are_told_apart_by_equality() {
        let mut t: Table<&str> = Table::default();
        let a = t.insert(1, "a");
        let b = t.insert(1, "b");
        assert_eq!(t.find(1, |v| *v == "a"), Some(a));
        assert_eq!(t.find(1, |v| *v == "b"), Some(b));
        assert_eq!(t.find(1, |v| *v == "c"), None);
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.find(1, |v| *v == "a"), None);
        assert_eq!(t.find(1, |v| *v == "b"), Some(b));
        let c = t.insert(2, "c");
        assert_eq!(c, a, "freed slots are reused");
        assert_eq!(t.len(), 2);
    }
}
