//! Outcome classification: how [`Lifecycle::time_with`](super::Lifecycle::time_with)
//! turns an error into [`Outcome::Failure`] or [`Outcome::Cancelled`].
//!
//! It is a trait with a blanket impl for closures, so that any error type
//! works, foreign ones included (`anyhow::Error`, `tonic::Status`,
//! `Box<dyn Error>`): a closure `|e: &tonic::Status| …` needs no impl at
//! all, and a classifier of your own (a unit struct) can implement
//! [`Classify`] for any error type because the struct is yours. The earlier
//! design, a trait implemented *by the error*, could not be implemented for
//! foreign errors at all (the orphan rule).
//!
//! No error is a cancellation unless a classifier says so. In particular
//! `std::io::ErrorKind::Interrupted` (an `EINTR`: a signal arrived during a
//! system call, which the caller is expected to retry) is a failure: it does
//! not mean the process is shutting down.

use super::Outcome;

/// Decides the [`Outcome`] of a failed operation from its error.
///
/// Implemented for every `Fn(&E) -> Outcome`; annotate the closure's
/// parameter (`|e: &anyhow::Error| …`) so that it is inferred for all
/// lifetimes. A classifier should return [`Outcome::Failure`] or
/// [`Outcome::Cancelled`]; [`Outcome::Success`] is recorded as given.
pub trait Classify<E: ?Sized> {
    /// The outcome `error` stands for.
    fn classify(&self, error: &E) -> Outcome;
}

impl<E: ?Sized, F: Fn(&E) -> Outcome> Classify<E> for F {
    fn classify(&self, error: &E) -> Outcome {
        self(error)
    }
}

/// The default classifier: every error is a [`Outcome::Failure`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllFailures;

impl<E: ?Sized> Classify<E> for AllFailures {
    fn classify(&self, _: &E) -> Outcome {
        Outcome::Failure
    }
}
