//! Two series of one metric must not have the same label text (the text their exposition gives
//! them, see `exposition.rs`).
//!
//! With the Prometheus exposition, distinct OTel attribute sets can give identical label text: keys that sanitize alike (`a.b`
//! and `a_b`), values of different types that print alike (`1` and `"1"`), an empty value next
//! to no attribute (empty labels are left out), `le` next to `exported_le`, an attribute named
//! like a label the translation adds (`job`, `otel_scope_name`). Both series would then show on
//! the page as one series line twice, which Prometheus cannot store. The second such series is
//! refused ([`PointError::LabelClash`](super::PointError::LabelClash)); the first keeps its
//! place.
//!
//! Only a metric that has seen an attribute set able to clash pays for the check (the
//! exposition says which attributes may, [`Exposition::may_clash`]): until then its series'
//! label texts are distinct by construction (for Prometheus: valid keys, non-empty string
//! values, nothing renamed). From the first such set on, the metric keeps the hash of each series'
//! label text with the series' id (about 16 bytes a series), filled from the series it already
//! holds; a hit is confirmed against that series' text, so a hash collision never refuses a
//! series. Entries of series that are gone stay until the map holds twice the metric's series,
//! then it is rebuilt.

use std::collections::HashMap;
use std::hash::Hasher;

use super::Exposition;
use super::attrs::{Attributes, SortedView, hasher};
use super::series::Series;
use super::table::Table;
use super::values::SeriesMeta;

/// Label-text hashes of one metric's series, with the series each came from, once the metric
/// needs them.
#[derive(Debug, Default)]
pub(super) struct ClashIndex(Option<HashMap<u64, u32, ahash::RandomState>>);

impl ClashIndex {
    /// Whether a new series with `labels` (from `attrs`) may join `series`: `Err` when one of
    /// them has the same labels, else the hash to [`ClashIndex::remember`] the new series by.
    pub(super) fn check<A: Attributes + ?Sized>(
        &mut self,
        attrs: &SortedView<'_, A>,
        meta: &SeriesMeta,
        series: &Table<Series>,
        exposition: &dyn Exposition,
    ) -> Result<Option<u64>, ()> {
        if self.0.is_none() {
            let may_clash = |(key, value)| exposition.may_clash(key, value);
            if !(0..attrs.len()).any(|i| may_clash(attrs.get(i))) {
                return Ok(None);
            }
            self.0 = Some(index(series));
        }
        let Some(seen) = &mut self.0 else {
            return Ok(None);
        };
        // The text is only needed once the metric can clash at all.
        let labels = meta.label_text();
        let hash = text_hash(&labels);
        if let Some(id) = seen.get(&hash)
            && series.get(*id).is_some_and(|s| s.meta.labels_are(&labels))
        {
            return Err(());
        }
        if seen.len() >= 2 * series.len() + 64 {
            *seen = index(series);
        }
        Ok(Some(hash))
    }

    /// The series `id` was created with the labels of `hash` (from [`ClashIndex::check`]).
    pub(super) fn remember(&mut self, hash: Option<u64>, id: u32) {
        if let (Some(seen), Some(hash)) = (&mut self.0, hash) {
            seen.insert(hash, id);
        }
    }
}

fn index(series: &Table<Series>) -> HashMap<u64, u32, ahash::RandomState> {
    series
        .iter()
        .map(|(id, s)| (text_hash(&s.meta.label_text()), id))
        .collect()
}

fn text_hash(text: &str) -> u64 {
    let mut h = hasher();
    h.write(text.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::{AttrValue, Filter, Kind, Number, NumberPoint, Options, PointError, Store};
    use crate::export::prometheus::{Format, render};

    type Attrs<'a> = [(&'a str, AttrValue<'a>)];

    fn gauge(store: &Store, now: Instant, attrs: &Attrs<'_>, v: i64) -> Result<(), PointError> {
        let mut ingest = store.ingest_at(now);
        let service = [("service.name", AttrValue::Str("svc"))];
        let r = ingest.resource(&service[..], "").unwrap();
        let none: &Attrs<'_> = &[];
        let s = ingest.scope(r, "", "", "", none).unwrap();
        let m = ingest.metric(s, "g", "", "", Kind::Gauge).unwrap();
        let point = NumberPoint {
            start: 0,
            time: 1_700_000_000_000_000_000,
            value: Number::Int(v),
        };
        ingest.number(m, attrs, point, false, &[]).map(|_| ())
    }

    fn lines(store: &Store) -> Vec<String> {
        render(&store.snapshot(&Filter::default()), Format::Text)
            .lines()
            .filter(|l| l.starts_with("g{"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_second_set_rendering_the_same_labels_is_refused() {
        let store = Store::new(Options::default());
        let now = Instant::now();
        let pairs: [(&Attrs<'_>, &Attrs<'_>); 4] = [
            (
                &[("a.b", AttrValue::Str("x"))],
                &[("a_b", AttrValue::Str("x"))],
            ),
            (&[("n", AttrValue::Str("1"))], &[("n", AttrValue::Int(1))]),
            (
                &[("k", AttrValue::Str("v")), ("e", AttrValue::Str(""))],
                &[("k", AttrValue::Str("v"))],
            ),
            (
                &[("exported_le", AttrValue::Str("1"))],
                &[("le", AttrValue::Str("1"))],
            ),
        ];
        for (i, (first, second)) in pairs.iter().enumerate() {
            assert_eq!(gauge(&store, now, first, i as i64), Ok(()), "pair {i}");
            assert_eq!(
                gauge(&store, now, second, 9),
                Err(PointError::LabelClash),
                "pair {i}"
            );
            // The first set's series is updated as before.
            assert_eq!(gauge(&store, now, first, i as i64), Ok(()), "pair {i}");
        }
        // Sets that merely look alike but render differently are two series.
        assert_eq!(
            gauge(&store, now, &[("a.b", AttrValue::Str("y"))], 5),
            Ok(())
        );
        assert_eq!(
            lines(&store),
            [
                r#"g{job="svc",a_b="x"} 0"#,
                r#"g{job="svc",n="1"} 1"#,
                r#"g{job="svc",k="v"} 2"#,
                r#"g{job="svc",exported_le="1"} 3"#,
                r#"g{job="svc",a_b="y"} 5"#,
            ]
        );
        assert_eq!(store.sizes().series, 5);
    }

    #[test]
    fn a_set_is_admitted_once_the_series_it_clashed_with_is_gone() {
        let store = Store::new(Options::default());
        let now = Instant::now();
        let dot: &Attrs<'_> = &[("a.b", AttrValue::Str("x"))];
        let underscore: &Attrs<'_> = &[("a_b", AttrValue::Str("x"))];
        gauge(&store, now, dot, 1).unwrap();
        assert_eq!(
            gauge(&store, now, underscore, 2),
            Err(PointError::LabelClash)
        );
        // Another series keeps the metric alive while the first expires.
        let later = now + Duration::from_secs(200);
        gauge(&store, later, &[("other", AttrValue::Str("o"))], 3).unwrap();
        assert_eq!(store.expire(now + Duration::from_secs(400)), 1);
        assert_eq!(gauge(&store, later, underscore, 2), Ok(()));
        // The new series takes the slot the expired one left (series keep slot order).
        assert_eq!(
            lines(&store),
            [r#"g{job="svc",a_b="x"} 2"#, r#"g{job="svc",other="o"} 3"#]
        );
    }
}
