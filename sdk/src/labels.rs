//! Typed labels: attribute values fixed at compile time, so call sites cannot
//! invent them and every stream's cardinality is known in advance.
//!
//! A [`Label`] is an enum whose variants map to static strings, declared with
//! [`label!`](crate::label). A [`LabelSet`] is a tuple of labels (or `()`); its
//! sets are numbered densely, which is what lets [`BoundCounters`] and
//! [`BoundHistograms`] keep one bound OTel instrument per set in a flat array:
//! recording with a typed set is an array index plus a bound add, with no
//! attribute list built per call.
//!
//! Free-form values (an image name, a target host) are opt-in through
//! [`Free`]; an empty value becomes `unknown`, as the systems Vigil replaces
//! did by hand. Free values cannot be enumerated, so instruments that take
//! them cache attribute lists in a map instead of an array.

use std::sync::{Arc, OnceLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundCounter, BoundHistogram, Counter, Histogram};

/// A label with a fixed set of values.
pub trait Label: Copy + Eq + Send + Sync + 'static {
    /// The attribute key.
    const KEY: &'static str;
    /// Every value, in declaration order.
    const VALUES: &'static [Self];
    /// The attribute value.
    fn as_str(self) -> &'static str;
    /// Position in [`Self::VALUES`].
    fn index(self) -> usize;
}

/// Declare a [`Label`] enum.
///
/// ```
/// vigil::label! {
///     /// How a transition ended.
///     pub enum Outcome = "outcome" {
///         Success = "success",
///         Failure = "failure",
///     }
/// }
/// use vigil::labels::Label;
/// assert_eq!(Outcome::Failure.as_str(), "failure");
/// assert_eq!(Outcome::KEY, "outcome");
/// ```
#[macro_export]
macro_rules! label {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident = $key:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::labels::Label for $name {
            const KEY: &'static str = $key;
            const VALUES: &'static [Self] = &[$($name::$variant),+];
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value),+
                }
            }
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

/// A free-form label value (opt-in): empty becomes `unknown`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Free(Arc<str>);

impl Free {
    /// The value to use for an empty one.
    pub const UNKNOWN: &'static str = "unknown";

    /// Wrap a value.
    pub fn new(value: impl AsRef<str>) -> Self {
        let v = value.as_ref().trim();
        Free(Arc::from(if v.is_empty() { Self::UNKNOWN } else { v }))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Free {
    fn from(v: &str) -> Self {
        Free::new(v)
    }
}

impl From<String> for Free {
    fn from(v: String) -> Self {
        Free::new(v)
    }
}

/// A tuple of [`Label`]s whose sets are numbered densely.
pub trait LabelSet: Copy + Send + Sync + 'static {
    /// How many distinct sets exist.
    const CARDINALITY: usize;
    /// This set's number, in `0..CARDINALITY`.
    fn dense_index(self) -> usize;
    /// Append this set's attributes.
    fn push_attributes(self, out: &mut Vec<KeyValue>);
    /// This set's attributes.
    fn attributes(self) -> Vec<KeyValue> {
        let mut out = Vec::new();
        self.push_attributes(&mut out);
        out
    }
}

impl LabelSet for () {
    const CARDINALITY: usize = 1;
    fn dense_index(self) -> usize {
        0
    }
    fn push_attributes(self, _: &mut Vec<KeyValue>) {}
}

impl<A: Label> LabelSet for A {
    const CARDINALITY: usize = A::VALUES.len();
    fn dense_index(self) -> usize {
        self.index()
    }
    fn push_attributes(self, out: &mut Vec<KeyValue>) {
        out.push(KeyValue::new(A::KEY, self.as_str()));
    }
}

macro_rules! tuple_label_set {
    ($($t:ident $v:ident),+) => {
        impl<$($t: Label),+> LabelSet for ($($t,)+) {
            const CARDINALITY: usize = 1 $(* $t::VALUES.len())+;
            fn dense_index(self) -> usize {
                let ($($v,)+) = self;
                let mut index = 0;
                $( index = index * $t::VALUES.len() + $v.index(); )+
                index
            }
            fn push_attributes(self, out: &mut Vec<KeyValue>) {
                let ($($v,)+) = self;
                $( out.push(KeyValue::new($t::KEY, $v.as_str())); )+
            }
        }
    };
}

tuple_label_set!(A a);
tuple_label_set!(A a, B b);
tuple_label_set!(A a, B b, C c);
tuple_label_set!(A a, B b, C c, D d);

/// One bound counter per label set, bound on first use.
pub struct BoundCounters<L: LabelSet> {
    counter: Counter<u64>,
    bound: Box<[OnceLock<BoundCounter<u64>>]>,
    _labels: std::marker::PhantomData<L>,
}

impl<L: LabelSet> BoundCounters<L> {
    /// Wrap a counter.
    pub fn new(counter: Counter<u64>) -> Self {
        let bound = (0..L::CARDINALITY).map(|_| OnceLock::new()).collect();
        BoundCounters {
            counter,
            bound,
            _labels: std::marker::PhantomData,
        }
    }

    /// Add `value` to the series of `labels`.
    #[inline]
    pub fn add(&self, labels: L, value: u64) {
        match self.bound.get(labels.dense_index()) {
            Some(slot) => slot
                .get_or_init(|| self.counter.bind(&labels.attributes()))
                .add(value),
            None => self.counter.add(value, &labels.attributes()),
        }
    }
}

/// One bound histogram per label set, bound on first use.
pub struct BoundHistograms<L: LabelSet> {
    histogram: Histogram<f64>,
    bound: Box<[OnceLock<BoundHistogram<f64>>]>,
    _labels: std::marker::PhantomData<L>,
}

impl<L: LabelSet> BoundHistograms<L> {
    /// Wrap a histogram.
    pub fn new(histogram: Histogram<f64>) -> Self {
        let bound = (0..L::CARDINALITY).map(|_| OnceLock::new()).collect();
        BoundHistograms {
            histogram,
            bound,
            _labels: std::marker::PhantomData,
        }
    }

    /// Record `value` in the series of `labels`.
    #[inline]
    pub fn record(&self, labels: L, value: f64) {
        match self.bound.get(labels.dense_index()) {
            Some(slot) => slot
                .get_or_init(|| self.histogram.bind(&labels.attributes()))
                .record(value),
            None => self.histogram.record(value, &labels.attributes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::label! {
        enum Color = "color" { Red = "red", Green = "green", Blue = "blue" }
    }
    crate::label! {
        enum Size = "size" { Small = "small", Large = "large" }
    }

    #[test]
    fn label_sets_are_numbered_densely() {
        assert_eq!(<(Color, Size)>::CARDINALITY, 6);
        let mut seen: Vec<usize> = Color::VALUES
            .iter()
            .flat_map(|c| Size::VALUES.iter().map(move |s| (*c, *s).dense_index()))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(<()>::CARDINALITY, 1);
    }

    #[test]
    fn label_sets_carry_their_keys_and_values() {
        let attrs = (Color::Green, Size::Large).attributes();
        assert_eq!(
            attrs,
            vec![
                KeyValue::new("color", "green"),
                KeyValue::new("size", "large")
            ]
        );
    }

    #[test]
    fn empty_free_values_become_unknown() {
        assert_eq!(Free::new("").as_str(), "unknown");
        assert_eq!(Free::new("  ").as_str(), "unknown");
        assert_eq!(Free::new("duckdb:1.2").as_str(), "duckdb:1.2");
    }
}
