//! Attribute sets as the store sees them: borrowed on the way in, owned once per series.
//!
//! The ingest path never needs an owned copy of an incoming attribute: a
//! decoder hands the store an [`Attributes`] view that yields `(&str,
//! AttrValue<'_>)` pairs, the store hashes and compares them in place, and only
//! a *new* series turns them into an [`OwnedAttrs`]. That is what lets a
//! zero-copy decoder replace the generic prost one without touching the store.
//!
//! Identity is the OTel attribute *set*: order does not matter, and the typed
//! value matters (`"1"` and `1` are different sets, as OTel says). A set with a
//! repeated key has no well-defined meaning in OTLP, so it is rejected by the
//! caller rather than guessed at.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

use super::shared::Shared;
use crate::translate::{self, AttrValueRef};

/// One attribute value, borrowed from the decoded request.
#[derive(Clone, Copy, Debug)]
pub enum AttrValue<'a> {
    /// A string value.
    Str(&'a str),
    /// A boolean value.
    Bool(bool),
    /// A signed integer value.
    Int(i64),
    /// A floating-point value.
    Double(f64),
    /// A byte-string value.
    Bytes(&'a [u8]),
    /// An array or key-value list, kept as the wire type (rare, never on a hot path).
    Complex(&'a AnyValue),
    /// An attribute with no value.
    Empty,
}

impl<'a> AttrValue<'a> {
    /// View an OTLP `AnyValue`.
    pub fn from_any(v: Option<&'a AnyValue>) -> Self {
        match v.and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => AttrValue::Str(s),
            Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
            Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => AttrValue::Double(*d),
            Some(any_value::Value::BytesValue(b)) => AttrValue::Bytes(b),
            Some(any_value::Value::ArrayValue(_)) | Some(any_value::Value::KvlistValue(_)) => {
                match v {
                    Some(any) => AttrValue::Complex(any),
                    None => AttrValue::Empty,
                }
            }
            Some(any_value::Value::StringValueStrindex(_)) | None => AttrValue::Empty,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            AttrValue::Str(_) => 1,
            AttrValue::Bool(_) => 2,
            AttrValue::Int(_) => 3,
            AttrValue::Double(_) => 4,
            AttrValue::Bytes(_) => 5,
            AttrValue::Complex(_) => 6,
            AttrValue::Empty => 7,
        }
    }

    fn hash_into(&self, h: &mut impl Hasher) {
        h.write_u8(self.tag());
        match self {
            AttrValue::Str(s) => h.write(s.as_bytes()),
            AttrValue::Bool(b) => h.write_u8(*b as u8),
            AttrValue::Int(i) => h.write_i64(*i),
            AttrValue::Double(d) => h.write_u64(d.to_bits()),
            AttrValue::Bytes(b) => h.write(b),
            AttrValue::Complex(any) => {
                // Rare: hash the canonical text form.
                h.write(translate::attr_value_string(&AttrValueRef::Complex(any)).as_bytes())
            }
            AttrValue::Empty => {}
        }
        h.write_u8(0xff);
    }

    /// The value as the one attribute-value encoder sees it ([`translate::attr_value_string`]).
    pub fn view(&self) -> AttrValueRef<'a> {
        match *self {
            AttrValue::Str(s) => AttrValueRef::Str(s),
            AttrValue::Bool(b) => AttrValueRef::Bool(b),
            AttrValue::Int(i) => AttrValueRef::Int(i),
            AttrValue::Double(d) => AttrValueRef::Double(d),
            AttrValue::Bytes(b) => AttrValueRef::Bytes(b),
            AttrValue::Complex(any) => AttrValueRef::Complex(any),
            AttrValue::Empty => AttrValueRef::Empty,
        }
    }

    /// The value as text (labels, and the canonical form an array or map is hashed by).
    pub fn to_label_value(&self) -> Cow<'a, str> {
        translate::attr_value_string(&self.view())
    }
}

/// An owned attribute value (one per key per series).
#[derive(Clone, Debug)]
pub enum OwnedValue {
    /// A string value.
    Str(Box<str>),
    /// A string value that repeats across the series of a metric, kept once (see
    /// `shared.rs`); equal to the same text as [`OwnedValue::Str`].
    SharedStr(Arc<str>),
    /// A boolean value.
    Bool(bool),
    /// A signed integer value.
    Int(i64),
    /// A floating-point value.
    Double(f64),
    /// A byte-string value.
    Bytes(Box<[u8]>),
    /// An array or key-value list.
    Complex(Box<AnyValue>),
    /// No value.
    Empty,
}

impl PartialEq for OwnedValue {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.as_ref())
    }
}

impl OwnedValue {
    pub(crate) fn from_ref(v: &AttrValue<'_>) -> Self {
        match *v {
            AttrValue::Str(s) => OwnedValue::Str(s.into()),
            AttrValue::Bool(b) => OwnedValue::Bool(b),
            AttrValue::Int(i) => OwnedValue::Int(i),
            AttrValue::Double(d) => OwnedValue::Double(d),
            AttrValue::Bytes(b) => OwnedValue::Bytes(b.into()),
            AttrValue::Complex(any) => OwnedValue::Complex(Box::new(any.clone())),
            AttrValue::Empty => OwnedValue::Empty,
        }
    }

    /// Borrow as an [`AttrValue`].
    pub fn as_ref(&self) -> AttrValue<'_> {
        match self {
            OwnedValue::Str(s) => AttrValue::Str(s),
            OwnedValue::SharedStr(s) => AttrValue::Str(s),
            OwnedValue::Bool(b) => AttrValue::Bool(*b),
            OwnedValue::Int(i) => AttrValue::Int(*i),
            OwnedValue::Double(d) => AttrValue::Double(*d),
            OwnedValue::Bytes(b) => AttrValue::Bytes(b),
            OwnedValue::Complex(any) => AttrValue::Complex(any),
            OwnedValue::Empty => AttrValue::Empty,
        }
    }

    fn matches(&self, v: &AttrValue<'_>) -> bool {
        match (self, v) {
            (OwnedValue::Str(a), AttrValue::Str(b)) => &**a == *b,
            (OwnedValue::SharedStr(a), AttrValue::Str(b)) => &**a == *b,
            (OwnedValue::Bool(a), AttrValue::Bool(b)) => a == b,
            (OwnedValue::Int(a), AttrValue::Int(b)) => a == b,
            (OwnedValue::Double(a), AttrValue::Double(b)) => a.to_bits() == b.to_bits(),
            (OwnedValue::Bytes(a), AttrValue::Bytes(b)) => &**a == *b,
            (OwnedValue::Complex(a), AttrValue::Complex(b)) => **a == **b,
            (OwnedValue::Empty, AttrValue::Empty) => true,
            _ => false,
        }
    }

    /// Convert back to an OTLP `AnyValue` (for the OTLP/JSON re-export).
    pub fn to_any(&self) -> AnyValue {
        let value = match self {
            OwnedValue::Str(s) => Some(any_value::Value::StringValue(s.to_string())),
            OwnedValue::SharedStr(s) => Some(any_value::Value::StringValue(s.to_string())),
            OwnedValue::Bool(b) => Some(any_value::Value::BoolValue(*b)),
            OwnedValue::Int(i) => Some(any_value::Value::IntValue(*i)),
            OwnedValue::Double(d) => Some(any_value::Value::DoubleValue(*d)),
            OwnedValue::Bytes(b) => Some(any_value::Value::BytesValue(b.to_vec())),
            OwnedValue::Complex(any) => return (**any).clone(),
            OwnedValue::Empty => None,
        };
        AnyValue { value }
    }
}

/// A borrowed attribute list, as a decoder presents it to the store.
///
/// Implementations must be cheap to iterate more than once.
pub trait Attributes {
    /// Number of attributes.
    fn len(&self) -> usize;
    /// Whether there are no attributes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The key and value at `i` (`i < len()`).
    fn get(&self, i: usize) -> (&str, AttrValue<'_>);
}

impl Attributes for [KeyValue] {
    #[inline]
    fn len(&self) -> usize {
        <[KeyValue]>::len(self)
    }
    #[inline]
    fn get(&self, i: usize) -> (&str, AttrValue<'_>) {
        let kv = &self[i];
        (&kv.key, AttrValue::from_any(kv.value.as_ref()))
    }
}

impl Attributes for Vec<KeyValue> {
    #[inline]
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    #[inline]
    fn get(&self, i: usize) -> (&str, AttrValue<'_>) {
        Attributes::get(self.as_slice(), i)
    }
}

impl<'a> Attributes for [(&'a str, AttrValue<'a>)] {
    fn len(&self) -> usize {
        <[(&str, AttrValue<'_>)]>::len(self)
    }
    fn get(&self, i: usize) -> (&str, AttrValue<'_>) {
        self[i]
    }
}

/// Why an attribute set cannot identify a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrError {
    /// The same key appears twice.
    DuplicateKey,
    /// The resource id handed to [`Ingest::scope`](super::Ingest::scope) no longer names a
    /// resource: it was collected while the session held another shard.
    Gone,
}

/// Attribute order sorted by key, computed without allocating for up to
/// `INLINE` attributes.
pub(crate) struct SortedView<'a, A: Attributes + ?Sized> {
    attrs: &'a A,
    order: Order,
}

const INLINE: usize = 24;

enum Order {
    Inline([u16; INLINE]),
    Heap(Vec<u32>),
}

impl<'a, A: Attributes + ?Sized> SortedView<'a, A> {
    pub(crate) fn new(attrs: &'a A) -> Result<Self, AttrError> {
        let n = attrs.len();
        let order = if n <= INLINE {
            let mut idx = [0u16; INLINE];
            for (i, slot) in idx.iter_mut().enumerate().take(n) {
                *slot = i as u16;
            }
            // Insertion sort: attribute lists are short.
            for i in 1..n {
                let mut j = i;
                while j > 0 && attrs.get(idx[j - 1] as usize).0 > attrs.get(idx[j] as usize).0 {
                    idx.swap(j - 1, j);
                    j -= 1;
                }
            }
            Order::Inline(idx)
        } else {
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.sort_by(|a, b| attrs.get(*a as usize).0.cmp(attrs.get(*b as usize).0));
            Order::Heap(idx)
        };
        let view = SortedView { attrs, order };
        for i in 1..n {
            if view.get(i - 1).0 == view.get(i).0 {
                return Err(AttrError::DuplicateKey);
            }
        }
        Ok(view)
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.attrs.len()
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> (&'a str, AttrValue<'a>) {
        let j = match &self.order {
            Order::Inline(idx) => idx[i] as usize,
            Order::Heap(idx) => idx[i] as usize,
        };
        self.attrs.get(j)
    }

    /// Hash of the sorted set, seeded with `seed` (the owner's id).
    pub(crate) fn hash(&self, seed: u64) -> u64 {
        let mut h = hasher();
        h.write_u64(seed);
        for i in 0..self.len() {
            feed(&mut h, self.get(i));
        }
        h.finish()
    }

    /// [`Self::hash`] and a second hash of the set under independent keys, in one pass: the
    /// series table finds a series by the first and confirms it by the second (see
    /// `Ingest::upsert`).
    pub(crate) fn hashes(&self, seed: u64) -> (u64, u64) {
        let mut h = hasher();
        let mut c = check_hasher();
        h.write_u64(seed);
        c.write_u64(seed);
        for i in 0..self.len() {
            let kv = self.get(i);
            feed(&mut h, kv);
            feed(&mut c, kv);
        }
        (h.finish(), c.finish())
    }

    /// Whether this set equals an owned (sorted) one.
    pub(crate) fn equals(&self, owned: &OwnedAttrs) -> bool {
        if owned.0.len() != self.len() {
            return false;
        }
        owned.0.iter().enumerate().all(|(i, (k, v))| {
            let (k2, v2) = self.get(i);
            &**k == k2 && v.matches(&v2)
        })
    }

    pub(crate) fn to_owned_attrs(&self) -> OwnedAttrs {
        OwnedAttrs(
            (0..self.len())
                .map(|i| {
                    let (k, v) = self.get(i);
                    (Arc::from(k), OwnedValue::from_ref(&v))
                })
                .collect(),
        )
    }

    /// Like [`Self::to_owned_attrs`], taking the keys from `keys`.
    pub(crate) fn to_owned_attrs_with(&self, shared: &mut Shared) -> OwnedAttrs {
        OwnedAttrs(
            (0..self.len())
                .map(|i| {
                    let (k, v) = self.get(i);
                    shared.attribute(k, &v)
                })
                .collect(),
        )
    }
}

/// An owned attribute set, sorted by key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnedAttrs(pub Box<[(Arc<str>, OwnedValue)]>);

impl OwnedAttrs {
    /// Key and label-value pairs for the Prometheus translation.
    pub fn label_pairs(&self) -> Vec<(&str, Cow<'_, str>)> {
        self.0
            .iter()
            .map(|(k, v)| (&**k, v.as_ref().to_label_value()))
            .collect()
    }

    /// Look up a string attribute.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.iter().find_map(|(k, v)| match v.as_ref() {
            AttrValue::Str(s) if &**k == key => Some(s),
            _ => None,
        })
    }

    /// Convert to OTLP key-values.
    pub fn to_key_values(&self) -> Vec<KeyValue> {
        self.0
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.to_string(),
                value: Some(v.to_any()),
                ..Default::default()
            })
            .collect()
    }
}

/// The store's hasher: keys drawn at random once per process, so hashes are stable within a
/// process (the tables' invariant) but a sender cannot choose attribute sets that collide on
/// purpose (hash flooding would turn every lookup into a scan of one long chain).
pub(crate) fn hasher() -> impl Hasher {
    static KEYS: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    KEYS.get_or_init(ahash::RandomState::new).build_hasher()
}

/// A hasher with keys of its own, independent of [`hasher`]'s.
fn check_hasher() -> impl Hasher {
    static KEYS: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    KEYS.get_or_init(ahash::RandomState::new).build_hasher()
}

#[inline]
fn feed(h: &mut impl Hasher, (k, v): (&str, AttrValue<'_>)) {
    h.write(k.as_bytes());
    h.write_u8(0);
    v.hash_into(h);
}

/// Hash of a sequence of strings (metric and scope identities).
pub(crate) fn hash_strs(seed: u64, parts: &[&str]) -> u64 {
    let mut h = hasher();
    h.write_u64(seed);
    for p in parts {
        h.write(p.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn hash_keys_are_drawn_per_process_not_fixed() {
        // Stable within the process...
        assert_eq!(hash_strs(7, &["a", "b"]), hash_strs(7, &["a", "b"]));
        // ...but not the keys a sender could know: those of a fixed-seed build.
        let mut fixed = ahash::RandomState::with_seeds(
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        )
        .build_hasher();
        fixed.write_u64(7);
        for p in ["a", "b"] {
            fixed.write(p.as_bytes());
            fixed.write_u8(0xff);
        }
        assert_ne!(hash_strs(7, &["a", "b"]), fixed.finish());
    }

    #[test]
    fn hash_ignores_order_but_not_types() {
        let a = vec![kv("a", "1"), kv("b", "2")];
        let b = vec![kv("b", "2"), kv("a", "1")];
        let ha = SortedView::new(&a).unwrap().hash(7);
        let hb = SortedView::new(&b).unwrap().hash(7);
        assert_eq!(ha, hb);
        let c: Vec<(&str, AttrValue<'_>)> =
            vec![("a", AttrValue::Int(1)), ("b", AttrValue::Str("2"))];
        assert_ne!(SortedView::new(c.as_slice()).unwrap().hash(7), ha);
        assert_ne!(SortedView::new(&a).unwrap().hash(8), ha);
    }

    #[test]
    fn equality_is_checked_against_owned_set() {
        let a = vec![kv("b", "2"), kv("a", "1")];
        let view = SortedView::new(&a).unwrap();
        let owned = view.to_owned_attrs();
        assert_eq!(&*owned.0[0].0, "a");
        assert!(view.equals(&owned));
        let other = vec![kv("a", "1"), kv("b", "3")];
        assert!(!SortedView::new(&other).unwrap().equals(&owned));
        let shorter = vec![kv("a", "1")];
        assert!(!SortedView::new(&shorter).unwrap().equals(&owned));
    }

    #[test]
    fn series_of_a_metric_share_their_keys() {
        let mut keys = Shared::default();
        let a = vec![kv("route", "/a"), kv("host", "h1")];
        let b = vec![kv("host", "h2"), kv("route", "/b")];
        let oa = SortedView::new(&a).unwrap().to_owned_attrs_with(&mut keys);
        let ob = SortedView::new(&b).unwrap().to_owned_attrs_with(&mut keys);
        assert!(SortedView::new(&a).unwrap().equals(&oa));
        assert!(SortedView::new(&b).unwrap().equals(&ob));
        for i in 0..2 {
            assert!(Arc::ptr_eq(&oa.0[i].0, &ob.0[i].0), "key {i} is shared");
        }
        // The values too, when they repeat ("/a" and "/b" do not, yet: both are kept once).
        assert_eq!(oa.0[1].1, OwnedValue::Str("/a".into()));
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let a = vec![kv("a", "1"), kv("b", "2"), kv("a", "3")];
        assert_eq!(SortedView::new(&a).err(), Some(AttrError::DuplicateKey));
    }

    #[test]
    fn long_attribute_lists_sort_on_the_heap() {
        let a: Vec<KeyValue> = (0..40)
            .rev()
            .map(|i| kv(&format!("k{i:02}"), "v"))
            .collect();
        let view = SortedView::new(&a).unwrap();
        assert_eq!(view.get(0).0, "k00");
        assert_eq!(view.get(39).0, "k39");
    }
}
