//! Canary: a weighted share of traffic, forced by allowed testers, sticky per key, or drawn per
//! request. A key's bucket is fixed, so raising the weight only ever moves keys from stable to
//! canary (`bucket < weight`).

use super::trust::Trust;
use super::{Env, Reason, override_value, random_basis_points, under_share};
use crate::hash;
use crate::plan::Canary;
use crate::request::Request;

/// Some(why) when the request goes to the canary.
pub fn choose(
    canary: &Canary,
    request: &Request<'_>,
    trust: &mut Trust<'_, '_, '_>,
    env: &mut impl Env,
) -> Option<Reason> {
    let forced = override_value(&canary.force, request, |value| match value {
        b"always" => Some(true),
        b"never" => Some(false),
        _ => None,
    });
    if let Some(always) = forced
        && trust.allowed(env)
    {
        return always.then_some(Reason::Forced);
    }
    match request.key(&canary.sticky) {
        Some(key) => under_share(canary.weight, || {
            hash::bucket_v2_basis_points(&canary.seed, &key)
        })
        .then_some(Reason::Sticky),
        None => under_share(canary.weight, || random_basis_points(env)).then_some(Reason::Random),
    }
}
