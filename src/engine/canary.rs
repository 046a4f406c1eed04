//! Canary: a weighted share of traffic, forced by allowed testers, sticky per key, or drawn per
//! request. A key's bucket is fixed, so raising the weight only ever moves keys from stable to
//! canary (`bucket < weight`); a ramp's weights never decrease, so neither does its schedule.

use super::trust::Trust;
use super::{Env, Keys, Reason, override_value, random_basis_points, under_share};
use crate::plan::{Canary, Ramp, Weight};
use crate::request::Request;

/// Some(why) when the request goes to the canary.
pub fn choose<'p, 'a>(
    canary: &'p Canary,
    request: &Request<'a>,
    keys: &mut Keys<'p, 'a>,
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
    let weight = weight_at(&canary.weight, || env.now_ms()).weight;
    match keys.get(request, &canary.sticky) {
        Some(key) => under_share(weight, || canary.seed.bucket_v2_basis_points(key))
            .then_some(Reason::Sticky),
        None => under_share(weight, || random_basis_points(env)).then_some(Reason::Random),
    }
}

/// A ramp's state at an instant: its step (0 before the start, `i + 1` while step `i` is in
/// force) and the weight in force, in basis points (0 before the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InForce {
    pub step: u32,
    pub weight: u32,
}

/// Where `ramp` stands at `now_ms` (Unix milliseconds, the proxy clock): the last step that has
/// begun. Every proxy computes the same from the same clock, so a fleet changes step together.
pub fn in_force(ramp: &Ramp, now_ms: i64) -> InForce {
    let Some(elapsed) = now_ms.checked_sub(ramp.start_ms).filter(|e| *e >= 0) else {
        return InForce { step: 0, weight: 0 };
    };
    let begun = ramp.steps.partition_point(|s| s.begins_ms <= elapsed);
    match begun.checked_sub(1).and_then(|i| ramp.steps.get(i)) {
        Some(step) => InForce {
            step: u32::try_from(begun).unwrap_or(u32::MAX),
            weight: step.weight,
        },
        None => InForce { step: 0, weight: 0 },
    }
}

/// The weight in force for a canary, fixed or ramped; the clock (`now_ms`) is read only for a
/// ramp, so that a fixed weight costs a request no host call.
pub fn weight_at(weight: &Weight, now_ms: impl FnOnce() -> i64) -> InForce {
    match weight {
        Weight::Fixed(weight) => InForce {
            step: 0,
            weight: *weight,
        },
        Weight::Ramp(ramp) => in_force(ramp, now_ms()),
    }
}
