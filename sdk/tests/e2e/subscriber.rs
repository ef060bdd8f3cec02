//! Issue 12: `init` used to install a global `tracing` subscriber by default,
//! so an application that set up its own afterwards failed. Now Vigil
//! installs one only when asked, and when asked after the application did,
//! it leaves the application's in place, warns, and starts anyway.
//!
//! One test, because the process has one global subscriber.

use tracing_subscriber::layer::SubscriberExt as _;

/// A builder exporting nowhere reachable: nothing in the test exports.
fn builder() -> vigil::Builder {
    vigil::builder().with_endpoint("http://127.0.0.1:9")
}

#[test]
fn an_application_with_its_own_subscriber_initialises_either_order() {
    // Vigil first, by default: no subscriber is installed...
    let guard = builder().build().unwrap();
    assert!(!tracing::dispatcher::has_been_set());

    // ...so the application installs its own, joining Vigil's span export
    // through the guard's layer.
    let subscriber = tracing_subscriber::registry().with(guard.tracing_layer());
    tracing::subscriber::set_global_default(subscriber).expect("the application's subscriber");
    assert!(tracing::dispatcher::has_been_set());

    // Asking Vigil for a subscriber now still initialises, with a warning.
    let second = builder().with_tracing(true).build().unwrap();
    assert!(
        second
            .warnings()
            .iter()
            .any(|w| w.contains("a global tracing subscriber is already installed")),
        "{:?}",
        second.warnings()
    );
    drop(second);
    drop(guard);
}
