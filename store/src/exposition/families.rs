//! Which Prometheus names the stored metrics hold, and the rule for a metric that would put a
//! second type under one of them.
//!
//! Prometheus families are keyed by their OpenMetrics family name, so both text formats stay
//! valid. The first Prometheus type seen for a family wins; a metric that would put another type
//! under the same name (or whose sample names, such as `_bucket` or `_total`, fall on another
//! family's) is refused with [`Refusal::TypeConflict`], and logged once per (name, type).
//!
//! Two different OTel names that give the same Prometheus name (`coll.x` and `coll_x`) would
//! give identical series lines; the second is refused with [`Refusal::NameCollision`].
//!
//! The store asks [`super::Prometheus`] (its exposition) when a metric is created, and the
//! refusal reaches the sender in `partial_success`; the store itself holds no names.

use std::collections::{HashMap, HashSet};

use crate::store::Refusal;
use crate::translate::{MetricName, PromType};

/// Most (name, type) conflicts logged; later ones are only counted.
const LOGGED_CONFLICTS_MAX: usize = 1024;

/// The names on the page, each held by the family that first took it.
#[derive(Default)]
pub(super) struct Families {
    names: HashMap<Box<str>, Family>,
    conflicts_logged: HashSet<(Box<str>, PromType)>,
}

/// A name on the page, held by one family (its OpenMetrics name is `owner`), which one OTel
/// metric name (`source`) gives.
struct Family {
    prom_type: PromType,
    owner: Box<str>,
    source: Box<str>,
    metrics: usize,
}

// === impl Families ===

impl Families {
    /// Families on the page (distinct owners of names).
    pub(super) fn count(&self) -> usize {
        let owners: HashSet<&str> = self.names.values().map(|f| &*f.owner).collect();
        owners.len()
    }

    /// Take every name a new metric `metric`, named `prom`, puts on a page, or refuse the metric
    /// when another family holds one of them. Returns the names, for [`Families::release`].
    pub(super) fn reserve(
        &mut self,
        metric: &str,
        prom: &MetricName,
    ) -> Result<Box<[Box<str>]>, Refusal> {
        let names = reserved_names(prom);
        let owner = prom.openmetrics_family.as_str();
        let clash = names.iter().find_map(|n| {
            self.names
                .get(&**n)
                .filter(|f| f.prom_type != prom.prom_type || &*f.owner != owner)
                .map(|f| (n.clone(), f.prom_type))
        });
        // Two OTel names that sanitize alike (`coll.x`, `coll_x`) would give identical series:
        // the second is refused rather than made indistinguishable.
        let collision = names.iter().find_map(|n| {
            self.names
                .get(&**n)
                .filter(|f| &*f.source != metric)
                .map(|f| f.source.clone())
        });
        if clash.is_none()
            && let Some(holder) = collision
        {
            return Err(Refusal::NameCollision {
                metric: metric.to_owned(),
                family: prom.family.clone(),
                holder: holder.into(),
            });
        }
        if let Some((name_taken, existing)) = clash {
            let refusal = Refusal::TypeConflict {
                family: prom.family.clone(),
                existing,
                incoming: prom.prom_type,
            };
            if self.conflicts_logged.len() < LOGGED_CONFLICTS_MAX
                && self.conflicts_logged.insert((name_taken, prom.prom_type))
            {
                tracing::warn!(
                    metric,
                    "{refusal}; further conflicts for this family are counted, not logged"
                );
            }
            return Err(refusal);
        }
        for n in names.iter() {
            match self.names.get_mut(&**n) {
                Some(f) => f.metrics += 1,
                None => {
                    self.names.insert(
                        n.clone(),
                        Family {
                            prom_type: prom.prom_type,
                            owner: owner.into(),
                            source: metric.into(),
                            metrics: 1,
                        },
                    );
                }
            }
        }
        Ok(names)
    }

    /// Give back the names of a metric that is gone; a name no metric holds is free again.
    pub(super) fn release(&mut self, names: &[Box<str>]) {
        for n in names {
            if let Some(f) = self.names.get_mut(n) {
                f.metrics = f.metrics.saturating_sub(1);
                if f.metrics == 0 {
                    self.names.remove(n);
                }
            }
        }
    }
}

/// Every name a family puts on either page: its text and OpenMetrics family
/// names and its sample names (`_total`, `_created`, `_bucket`, `_count`,
/// `_sum`). Two families may not share any of them, or one page would carry
/// two `# TYPE` lines or samples of one family inside another.
fn reserved_names(prom: &MetricName) -> Box<[Box<str>]> {
    let base = prom.openmetrics_family.as_str();
    let suffixes: &[&str] = match prom.prom_type {
        PromType::Counter => &["", "_total", "_created"],
        PromType::Histogram => &["", "_bucket", "_count", "_sum", "_created"],
        PromType::Summary => &["", "_count", "_sum", "_created"],
        PromType::Info => &["", "_info"],
        PromType::Gauge | PromType::Unknown => &[""],
    };
    let mut names: Vec<Box<str>> = suffixes
        .iter()
        .map(|s| format!("{base}{s}").into_boxed_str())
        .collect();
    if !names.iter().any(|n| **n == *prom.family) {
        names.push(prom.family.as_str().into());
    }
    names.into_boxed_slice()
}
