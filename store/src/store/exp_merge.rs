//! Merging a delta exponential histogram into accumulated state when the two differ in scale
//! or in bucket range.
//!
//! Both sides are brought to a common scale, the coarser of the two, or coarser still when the
//! combined range would span more than [`MAX_EXP_SPAN`] buckets: an index is any `i32` on the
//! wire, and growing the bucket array to cover two far-apart ranges would let one sender
//! allocate gigabytes. Bucket `i` at scale `s` becomes bucket `i >> (s - s')` at scale `s'`.
//! The delta rules that decide *whether* to merge are `series.rs`'s.

use super::series::{max_opt, min_opt};
use super::values::{ExpBuckets, ExpHistogram, ExpHistogramPoint};

/// Most buckets one side of an accumulated exponential histogram may span.
/// Deltas whose ranges are far apart are merged at a coarser scale instead of
/// growing the bucket array without bound (an index is any `i32` on the wire).
pub(super) const MAX_EXP_SPAN: i64 = 4096;

/// Index range `[first, last]` of the non-empty part of `counts` at `offset`,
/// seen at a scale `shift` steps coarser.
fn exp_range(offset: i32, counts: &[u64], shift: u32) -> Option<(i64, i64)> {
    let first = counts.iter().position(|c| *c != 0)? as i64;
    let last = counts.iter().rposition(|c| *c != 0)? as i64;
    let shift = shift.min(63);
    Some((
        (i64::from(offset) + first) >> shift,
        (i64::from(offset) + last) >> shift,
    ))
}

fn span_at(h: &ExpBuckets, hs: i32, incoming: (i32, &[u64]), ps: i32, scale: i32) -> i64 {
    let a = exp_range(h.offset, &h.counts, (hs - scale) as u32);
    let b = exp_range(incoming.0, incoming.1, (ps - scale) as u32);
    match (a, b) {
        (Some((a0, a1)), Some((b0, b1))) => a1.max(b1) - a0.min(b0) + 1,
        (Some((a0, a1)), None) | (None, Some((a0, a1))) => a1 - a0 + 1,
        (None, None) => 0,
    }
}

/// Merge a delta exponential histogram into the state at a common scale: the
/// coarser of the two, or coarser still when the combined range would span
/// more than [`MAX_EXP_SPAN`] buckets (bucket `i` at scale `s` becomes bucket
/// `i >> (s - s')` at scale `s'`).
pub(super) fn merge_exp(h: &mut ExpHistogram, p: &ExpHistogramPoint<'_>) {
    let mut scale = h.scale.min(p.scale);
    while scale > -10
        && (span_at(&h.positive, h.scale, p.positive, p.scale, scale) > MAX_EXP_SPAN
            || span_at(&h.negative, h.scale, p.negative, p.scale, scale) > MAX_EXP_SPAN)
    {
        scale -= 1;
    }
    if h.scale > scale {
        let shift = (h.scale - scale) as u32;
        downscale(&mut h.positive, shift);
        downscale(&mut h.negative, shift);
        h.scale = scale;
    }
    let shift = (p.scale - scale) as u32;
    add_buckets(&mut h.positive, p.positive.0, p.positive.1, shift);
    add_buckets(&mut h.negative, p.negative.0, p.negative.1, shift);
    h.count = h.count.saturating_add(p.count);
    h.zero_count = h.zero_count.saturating_add(p.zero_count);
    h.sum = match (h.sum, p.sum) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    h.min = min_opt(h.min, p.min);
    h.max = max_opt(h.max, p.max);
}

/// Re-bucket at a scale `shift` steps coarser, keeping only the non-empty range.
fn downscale(b: &mut ExpBuckets, shift: u32) {
    let Some((first, last)) = exp_range(b.offset, &b.counts, shift) else {
        b.counts.clear();
        return;
    };
    if shift == 0 {
        return;
    }
    let shift = shift.min(63);
    let mut out = vec![0u64; (last - first + 1) as usize];
    for (i, c) in b.counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let idx = ((i64::from(b.offset) + i as i64) >> shift) - first;
        if let Some(slot) = out.get_mut(idx as usize) {
            *slot = slot.saturating_add(*c);
        }
    }
    // `first` is an index shifted right, so it fits the `i32` it came from.
    b.offset = i32::try_from(first).unwrap_or(i32::MIN);
    b.counts = out;
}

/// Add `counts` (at `offset`, `shift` steps finer) into `b`; the caller has
/// checked that the combined span is bounded.
fn add_buckets(b: &mut ExpBuckets, offset: i32, counts: &[u64], shift: u32) {
    let shift = shift.min(63);
    for (i, c) in counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let idx = (i64::from(offset) + i as i64) >> shift;
        if b.counts.is_empty() {
            b.offset = i32::try_from(idx).unwrap_or(i32::MIN);
            b.counts.push(0);
        }
        let base = i64::from(b.offset);
        if idx < base {
            let grow = (base - idx) as usize;
            b.counts.splice(0..0, std::iter::repeat_n(0, grow));
            b.offset = i32::try_from(idx).unwrap_or(i32::MIN);
        }
        let pos = (idx - i64::from(b.offset)) as usize;
        if pos >= b.counts.len() {
            b.counts.resize(pos + 1, 0);
        }
        b.counts[pos] = b.counts[pos].saturating_add(*c);
    }
}
