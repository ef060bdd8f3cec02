//! A slab with a hash index: stable ids, O(1) lookup by a precomputed hash,
//! and equal hashes told apart by the caller's equality check.
//!
//! The store keys everything (resources, scopes, metrics, series) by a 64-bit
//! hash of the borrowed identity and confirms a hit by comparing the borrowed
//! identity with the stored one, so a lookup never builds an owned key.

use hashbrown::HashTable;

/// Entries of type `T`, each with the hash it was inserted under.
///
/// The index holds only ids (4 bytes and a control byte per entry): the hash of an entry is
/// read back from its slot when the index grows, and entries with equal hashes are simply
/// several ids that the caller's equality check tells apart.
pub(crate) struct Table<T> {
    slots: Vec<Option<(u64, T)>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            len: 0,
        }
    }
}

impl<T> Table<T> {
    /// Number of live entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn hash_of(slots: &[Option<(u64, T)>], id: u32) -> u64 {
        match slots.get(id as usize) {
            Some(Some((hash, _))) => *hash,
            _ => 0,
        }
    }

    /// Find the entry with `hash` for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(hash, |&id| match slots.get(id as usize) {
                Some(Some((h, t))) => *h == hash && eq(t),
                _ => false,
            })
            .copied()
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
        let slots = &self.slots;
        self.index
            .insert_unique(hash, id, |&i| Self::hash_of(slots, i));
        self.len += 1;
        id
    }

    /// Remove an entry by id.
    pub(crate) fn remove(&mut self, id: u32) -> Option<T> {
        let (hash, value) = self.slots.get_mut(id as usize)?.take()?;
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == id) {
            entry.remove();
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
