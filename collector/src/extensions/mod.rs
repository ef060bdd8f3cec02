//! Extensions: components that are not in a pipeline's data path but that components use.
//!
//! * `bearertokenauth`, `basicauth`: credentials a receiver or the pages require ([`auth`]).
//! * `file_storage`: a directory where exporters' sending queues persist batches
//!   (`sending_queue.storage: file_storage[/name]`), so a crash loses nothing acknowledged.
//! * `pprof`: CPU profiles and allocator statistics of the collector itself ([`pprof`]).

pub mod auth;
pub mod file_storage;
pub mod pprof;
