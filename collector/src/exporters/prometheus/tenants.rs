//! Tenants: one store per tenant behind a `prometheus` exporter.
//!
//! A credential maps to a tenant (see `extensions::auth`), the receiver stamps the tenant on
//! each batch, and the exporter keeps every tenant's data in a store of its own: series, names,
//! type reservations and limits (`max_series_per_metric`, `max_series`) are per tenant, so one
//! tenant can neither see, overwrite, delete, freeze nor squat another's data. The pages show
//! the store of the reader's tenant. Without authentication, or for a credential mapped to no
//! tenant, there is the implicit tenant, whose store is the one the exporter always had.
//!
//! Stores are made on a tenant's first batch and kept (an empty store is a few kilobytes), at
//! most `max_tenants` of them besides the implicit one; a batch of a tenant past that limit is
//! refused. Tenants come only from configured credentials, so the limit guards against a
//! configuration with more tenants than memory, not against senders.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::pipeline::Tenant;
use crate::store::{Options, Store};

/// Tenant stores besides the implicit tenant's, by default.
pub const DEFAULT_MAX_TENANTS: usize = 100;

/// The stores of one exporter, by tenant.
pub struct Tenants {
    implicit: Arc<Store>,
    options: Options,
    max: usize,
    named: RwLock<HashMap<Arc<str>, Arc<Store>>>,
}

impl Tenants {
    /// The implicit tenant's store `implicit`; named tenants get stores with `options`, at
    /// most `max` of them.
    pub fn new(implicit: Arc<Store>, options: Options, max: usize) -> Tenants {
        Tenants {
            implicit,
            options,
            max,
            named: RwLock::default(),
        }
    }

    /// Only the implicit tenant (tests, embedding, the zero-config pipeline).
    pub fn single(store: Arc<Store>) -> Tenants {
        Tenants::new(store, Options::default(), 0)
    }

    /// The implicit tenant's store.
    pub fn implicit(&self) -> &Arc<Store> {
        &self.implicit
    }

    /// The store that takes `tenant`'s batches, made on first use; `Err` with the reason when
    /// the tenant limit is reached.
    pub fn for_batch(&self, tenant: &Tenant) -> Result<Arc<Store>, String> {
        let Some(name) = tenant else {
            return Ok(self.implicit.clone());
        };
        if let Some(store) = self.read().get(name) {
            return Ok(store.clone());
        }
        let mut named = self.named.write().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = named.get(name) {
            return Ok(store.clone());
        }
        if named.len() >= self.max {
            return Err(format!(
                "the exporter holds its limit of {} tenants; tenant {name:?} has no store",
                self.max
            ));
        }
        let store = Arc::new(Store::new(self.options.clone()));
        named.insert(name.clone(), store.clone());
        Ok(store)
    }

    /// The store `tenant` reads: its own, or an empty one when it has sent nothing yet (a read
    /// makes no store).
    pub fn for_read(&self, tenant: &Tenant) -> Arc<Store> {
        match tenant {
            None => self.implicit.clone(),
            Some(name) => self
                .read()
                .get(name)
                .cloned()
                .unwrap_or_else(|| Arc::new(Store::new(Options::default()))),
        }
    }

    /// Every store, the implicit tenant's first (expiry, self-telemetry).
    pub fn all(&self) -> Vec<Arc<Store>> {
        let mut all = vec![self.implicit.clone()];
        all.extend(self.read().values().cloned());
        all
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<Store>>> {
        self.named.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tenant_gets_its_own_store_up_to_the_limit() {
        let implicit = Arc::new(Store::new(Options::default()));
        let tenants = Tenants::new(implicit.clone(), Options::default(), 2);
        let a: Tenant = Some("a".into());
        let b: Tenant = Some("b".into());
        let c: Tenant = Some("c".into());
        assert!(Arc::ptr_eq(&tenants.for_batch(&None).unwrap(), &implicit));
        let store_a = tenants.for_batch(&a).unwrap();
        assert!(!Arc::ptr_eq(&store_a, &implicit));
        assert!(Arc::ptr_eq(&tenants.for_batch(&a).unwrap(), &store_a));
        assert!(Arc::ptr_eq(&tenants.for_read(&a), &store_a));
        // A read makes no store; a batch does, until the limit.
        assert!(!Arc::ptr_eq(&tenants.for_read(&b), &tenants.for_read(&b)));
        tenants.for_batch(&b).unwrap();
        assert_eq!(
            tenants.for_batch(&c).map(|_| ()),
            Err("the exporter holds its limit of 2 tenants; tenant \"c\" has no store".into())
        );
        assert_eq!(tenants.all().len(), 3);
    }
}
