//! A/B experiments with GrowthBook's semantics: namespace check, hash of the key, and the first
//! variant whose cumulative range (coverage applied) holds the bucket.

use super::Keys;
use crate::hash;
use crate::plan::{Experiment, HashVersion};
use crate::request::Request;

/// The variant number the request is enrolled in, if any.
pub fn assign<'p, 'a>(
    experiment: &'p Experiment,
    request: &Request<'a>,
    keys: &mut Keys<'p, 'a>,
) -> Option<usize> {
    let key = keys.get(request, &experiment.key)?;
    if let Some(ns) = &experiment.namespace
        && !hash::in_namespace(key, &ns.id, ns.start, ns.end)
    {
        return None;
    }
    let bucket = match experiment.hash_version {
        HashVersion::V1 => hash::bucket_v1(&experiment.seed, key),
        HashVersion::V2 => experiment.seed.bucket_v2(key),
    };
    hash::choose_variation(bucket, &experiment.ranges)
}
