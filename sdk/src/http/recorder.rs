//! What one request records: the per-layer state behind [`MetricsLayer`]
//! (instruments, interned routes, cached attribute lists) and the in-flight
//! [`Pending`] measurement whose drop ends the request's "active" count.
//!
//! Attribute lists are cached per (method, scheme, version, route, status),
//! so a request builds none once its series has been seen. Routes are
//! interned to numbers when the request starts, because the route hook
//! borrows from the request head, which moves on to the inner service.
//! Both caches stop growing at the cardinality limit; past it, attributes
//! are built per request (still correct, just slower) and the SDK folds the
//! excess into its overflow series.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use http::Version;
use http::request::Parts;
use opentelemetry::metrics::{BoundUpDownCounter, Histogram, UpDownCounter};
use opentelemetry::{KeyValue, StringValue};

use super::{OTHER_ERROR, OTHER_METHOD, UrlScheme};
use crate::labels::{Label, LabelSet};

/// What every clone of a layer shares.
pub(super) struct Shared {
    pub(super) duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    /// One per (method, scheme), bound on first use.
    bound_active: Box<[OnceLock<BoundUpDownCounter<i64>>]>,
    pub(super) known: Vec<String>,
    /// `http.request.method` per known method, then `_OTHER`.
    methods: Vec<KeyValue>,
    pub(super) scheme: UrlScheme,
    /// Most routes interned and attribute lists cached.
    pub(super) cache_limit: usize,
    routes: RwLock<Routes>,
    series: RwLock<HashMap<SeriesKey, Arc<[KeyValue]>>>,
}

/// Route templates seen so far, numbered.
#[derive(Default)]
struct Routes {
    ids: HashMap<Box<str>, u32>,
    values: Vec<StringValue>,
}

/// A request's route, resolved before the request moves on.
pub(super) enum RouteRef {
    None,
    Interned(u32),
    /// Past the cache limit: kept as is, attributes built per request.
    Uncached(StringValue),
}

/// Identifies a duration series without its strings.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesKey {
    /// `u32::MAX`: no route.
    route: u32,
    /// 0: no response.
    status: u16,
    method: u8,
    version: u8,
    scheme: u8,
}

impl Shared {
    pub(super) fn new(
        duration: Histogram<f64>,
        active: UpDownCounter<i64>,
        known: Vec<String>,
        scheme: UrlScheme,
        cache_limit: usize,
    ) -> Self {
        let methods: Vec<KeyValue> = known
            .iter()
            .map(|m| KeyValue::new("http.request.method", m.clone()))
            .chain(std::iter::once(KeyValue::new(
                "http.request.method",
                OTHER_METHOD,
            )))
            .collect();
        let bound_active = (0..methods.len() * UrlScheme::VALUES.len())
            .map(|_| OnceLock::new())
            .collect();
        Shared {
            duration,
            active,
            bound_active,
            known,
            methods,
            scheme,
            cache_limit,
            routes: RwLock::default(),
            series: RwLock::default(),
        }
    }

    pub(super) fn method_index(&self, method: &http::Method) -> usize {
        let other = self.known.len();
        self.known
            .iter()
            .position(|known| known == method.as_str())
            .unwrap_or(other)
    }

    fn active(&self, method: usize, scheme: UrlScheme) -> BoundUpDownCounter<i64> {
        let index = method * UrlScheme::VALUES.len() + scheme.index();
        let attributes = || {
            let mut attributes = vec![self.method_attribute(method)];
            scheme.push_attributes(&mut attributes);
            attributes
        };
        match self.bound_active.get(index) {
            Some(slot) => slot.get_or_init(|| self.active.bind(&attributes())).clone(),
            None => self.active.bind(&attributes()),
        }
    }

    fn method_attribute(&self, method: usize) -> KeyValue {
        self.methods
            .get(method)
            .cloned()
            .unwrap_or_else(|| KeyValue::new("http.request.method", OTHER_METHOD))
    }

    pub(super) fn intern(&self, route: &str) -> RouteRef {
        if route.is_empty() {
            return RouteRef::None;
        }
        {
            let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
            if let Some(id) = routes.ids.get(route) {
                return RouteRef::Interned(*id);
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = routes.ids.get(route) {
            return RouteRef::Interned(*id);
        }
        let id = routes.values.len();
        match u32::try_from(id) {
            Ok(id) if id < u32::MAX && routes.values.len() < self.cache_limit => {
                routes.ids.insert(route.into(), id);
                routes.values.push(StringValue::from(route.to_string()));
                RouteRef::Interned(id)
            }
            _ => RouteRef::Uncached(StringValue::from(route.to_string())),
        }
    }

    fn route_value(&self, id: u32) -> Option<StringValue> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes.values.get(id as usize).cloned()
    }

    fn record(&self, pending: &Pending, status: Option<u16>, seconds: f64) {
        let route = match &pending.route {
            RouteRef::None => u32::MAX,
            RouteRef::Interned(id) => *id,
            RouteRef::Uncached(value) => {
                let attributes = self.attributes(pending, Some(value.clone()), status);
                self.duration.record(seconds, &attributes);
                return;
            }
        };
        let key = SeriesKey {
            route,
            status: status.unwrap_or(0),
            method: u8::try_from(pending.method).unwrap_or(u8::MAX),
            version: pending.version,
            scheme: pending.scheme.index() as u8,
        };
        let cached = {
            let series = self.series.read().unwrap_or_else(|e| e.into_inner());
            series.get(&key).cloned()
        };
        if let Some(attributes) = cached {
            self.duration.record(seconds, &attributes);
            return;
        }
        let route_value = match route {
            u32::MAX => None,
            id => self.route_value(id),
        };
        let attributes: Arc<[KeyValue]> = self.attributes(pending, route_value, status).into();
        self.duration.record(seconds, &attributes);
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        if series.len() < self.cache_limit {
            series.insert(key, attributes);
        }
    }

    fn attributes(
        &self,
        pending: &Pending,
        route: Option<StringValue>,
        status: Option<u16>,
    ) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(6);
        attributes.push(self.method_attribute(pending.method));
        attributes.push(KeyValue::new(UrlScheme::KEY, pending.scheme.as_str()));
        if let Some(version) = version_str(pending.version) {
            attributes.push(KeyValue::new("network.protocol.version", version));
        }
        if let Some(route) = route {
            attributes.push(KeyValue::new("http.route", route));
        }
        match status {
            Some(status) => {
                attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 500 {
                    attributes.push(KeyValue::new("error.type", status.to_string()));
                }
            }
            None => attributes.push(KeyValue::new("error.type", OTHER_ERROR)),
        }
        attributes
    }
}

/// `network.protocol.version` values, indexed by [`version_index`].
const VERSIONS: &[&str] = &["0.9", "1.0", "1.1", "2", "3"];

fn version_index(version: Version) -> u8 {
    match version {
        Version::HTTP_09 => 0,
        Version::HTTP_10 => 1,
        Version::HTTP_11 => 2,
        Version::HTTP_2 => 3,
        Version::HTTP_3 => 4,
        _ => u8::MAX,
    }
}

fn version_str(index: u8) -> Option<&'static str> {
    VERSIONS.get(usize::from(index)).copied()
}

// === impl Pending ===

/// One request in flight. Dropping it ends the request's "active" count.
pub(super) struct Pending {
    shared: Arc<Shared>,
    _active: Active,
    start: Instant,
    method: usize,
    version: u8,
    scheme: UrlScheme,
    route: RouteRef,
}

impl Pending {
    pub(super) fn start(shared: &Arc<Shared>, parts: &Parts, route: Option<&str>) -> Self {
        let method = shared.method_index(&parts.method);
        let scheme = match parts.uri.scheme_str() {
            Some("https") => UrlScheme::Https,
            Some("http") => UrlScheme::Http,
            _ => shared.scheme,
        };
        Pending {
            _active: Active::start(shared.active(method, scheme)),
            start: Instant::now(),
            method,
            version: version_index(parts.version),
            scheme,
            route: route.map_or(RouteRef::None, |r| shared.intern(r)),
            shared: shared.clone(),
        }
    }

    /// Records the duration; `status` is `None` when the service failed.
    pub(super) fn finish(self, status: Option<u16>) {
        let seconds = self.start.elapsed().as_secs_f64();
        self.shared.record(&self, status, seconds);
    }
}

/// Counts one request as active from creation to drop.
struct Active(BoundUpDownCounter<i64>);

impl Active {
    fn start(counter: BoundUpDownCounter<i64>) -> Self {
        counter.add(1);
        Active(counter)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}
