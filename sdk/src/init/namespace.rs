//! The process-wide metric-name namespace: a prefix such as `duckgres`
//! that turns `worker.lifecycle.transitions` into
//! `duckgres.worker.lifecycle.transitions`.
//!
//! Set once by the first `build()` that asks for one, and fixed afterwards:
//! instruments already created carry the old names, so changing it later
//! would split every metric in two.

use std::sync::OnceLock;

use super::InitError;

static NAMESPACE: OnceLock<String> = OnceLock::new();

/// The metric-name namespace set with [`Builder::with_namespace`](super::Builder::with_namespace), if any.
pub fn namespace() -> Option<&'static str> {
    NAMESPACE.get().map(String::as_str)
}

/// `name` prefixed with the [`namespace`] and a dot, or `name` alone.
pub fn metric_name(name: &str) -> String {
    match namespace() {
        Some(ns) => format!("{ns}.{name}"),
        None => name.to_string(),
    }
}

/// Checks the OpenTelemetry instrument-name syntax, `[A-Za-z][A-Za-z0-9_./-]*`,
/// leaving room for the names appended to it.
pub(crate) fn validate(namespace: &str) -> Result<(), InitError> {
    let mut chars = namespace.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err(InitError::invalid_namespace(
            namespace,
            "it must start with an ASCII letter",
        ));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')) {
        return Err(InitError::invalid_namespace(
            namespace,
            "only A-Z, a-z, 0-9, _ . - / are allowed",
        ));
    }
    if namespace.ends_with('.') {
        return Err(InitError::invalid_namespace(
            namespace,
            "it must not end with a dot",
        ));
    }
    if namespace.len() > 128 {
        return Err(InitError::invalid_namespace(
            namespace,
            "it is longer than 128 characters",
        ));
    }
    Ok(())
}

/// Sets the process-wide namespace once; setting the same one again is fine.
pub(crate) fn claim(requested: &str) -> Result<(), InitError> {
    claim_in(&NAMESPACE, requested)
}

fn claim_in(cell: &OnceLock<String>, requested: &str) -> Result<(), InitError> {
    let current = cell.get_or_init(|| requested.to_string());
    if current == requested {
        Ok(())
    } else {
        Err(InitError::namespace_conflict(current, requested))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_syntax_follows_instrument_names() {
        for ok in ["duckgres", "my_app", "a.b-c/d", "A1"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1app", "app name", "app.", "ünï", &"a".repeat(129)] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespace_is_set_once_per_process() {
        let cell = OnceLock::new();
        claim_in(&cell, "duckgres").unwrap();
        claim_in(&cell, "duckgres").unwrap();
        let error = claim_in(&cell, "other").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the metric namespace is already \"duckgres\"; it cannot change to \"other\""
        );
    }
}
