//! What the store asks of the format its state is shown in, and nothing more.
//!
//! The store keeps OTel state: resources, scopes, metrics, attribute sets and their folded
//! points. How those are named on a page (Prometheus family names, label text, `job` and
//! `instance`), and what a page cannot show (two types under one name, two series with the
//! same labels), is the exposition's business: an [`Exposition`] is handed to the store when it
//! is made ([`Store::with_exposition`](super::Store::with_exposition)) and asked at the few
//! moments something new arrives: a resource, a metric, a series. Its answers are kept with
//! the state they name, so neither a scrape nor an update asks again, and an answer that
//! refuses reaches the sender in `partial_success` like any other refusal of the store.
//!
//! Why the store asks at ingest rather than letting the page find out at render: a clash found
//! only by the page could not be reported to the sender (the request was answered long
//! before), so the point would be acknowledged and then never shown. The exposition owns its
//! own state (which names are taken, which identities are live) behind its own lock, taken
//! after a shard's, and the store gives back what a metric or resource held when it goes
//! ([`Exposition::close_metric`], [`Exposition::close_resource`]).
//!
//! The crate's Prometheus exposition is [`crate::exposition::Prometheus`]; [`Store::new`]
//! uses it. A store shown in another form can be given an exposition with other rules.
//!
//! [`Store::new`]: super::Store::new

use std::sync::Arc;

use super::{AttrValue, LabelFrame, LabelText, OwnedAttrs, Refusal, ResourceInfo, ScopeInfo};
use crate::translate::{MetricName, OtelKind};

/// A new metric, as the exposition is asked about it.
#[derive(Clone, Copy, Debug)]
pub struct NewMetric<'a> {
    /// OTel name (not empty).
    pub name: &'a str,
    /// OTel (UCUM) unit.
    pub unit: &'a str,
    /// Kind, without temporality.
    pub kind: OtelKind,
    /// The `prometheus.type` metadata entry, when the metric carried one.
    pub type_hint: Option<&'a str>,
}

/// The exposition's answer for a metric it accepts.
#[derive(Debug)]
pub struct Named {
    /// How the metric is named on the pages.
    pub name: MetricName,
    /// What the metric holds of the exposition's state (the names it took), handed back to
    /// [`Exposition::close_metric`] when the metric goes.
    pub claim: Box<[Box<str>]>,
}

/// The naming and the refusals of the form the store is shown in. See the module comment.
pub trait Exposition: Send + Sync {
    /// Name a new metric, or refuse it (its points are then reported as rejected).
    fn open_metric(&self, metric: NewMetric<'_>) -> Result<Named, Refusal>;

    /// A metric named by [`Exposition::open_metric`] is gone: give back its `claim`.
    fn close_metric(&self, claim: &[Box<str>]);

    /// A new resource's stored form (its identity labels filled in).
    fn open_resource(&self, attrs: OwnedAttrs, schema_url: &str) -> ResourceInfo;

    /// A resource made by [`Exposition::open_resource`] is gone.
    fn close_resource(&self, info: &ResourceInfo);

    /// The label text of a new series of the metric of `resource` and `scope`, with the
    /// attributes `attrs`. `frame` is the metric's share of its series' texts, which the
    /// exposition makes with the metric's first series and the store keeps.
    fn series_text(
        &self,
        resource: Option<&ResourceInfo>,
        scope: Option<&ScopeInfo>,
        attrs: &OwnedAttrs,
        frame: &mut Option<Arc<LabelFrame>>,
    ) -> LabelText;

    /// Whether an attribute could give the same label text as another attribute set. Until
    /// one of a metric's series has such an attribute, the store does not compare texts.
    fn may_clash(&self, key: &str, value: AttrValue<'_>) -> bool;

    /// Names (families) held on the pages, for the self-telemetry.
    fn families(&self) -> usize;
}
