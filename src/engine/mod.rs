//! The decision engine: from a compiled plan and a request view to a decision, with no proxy-wasm
//! in sight. One module per strategy; this one runs them in the order of the contract: base
//! (blue-green or stable), preview, canary (and its guard), experiments, shadow.

pub mod blue_green;
pub mod canary;
pub mod compare;
pub mod experiments;
pub mod guard;
pub mod matching;
pub mod shadow;
pub mod trust;

use crate::plan::{
    Base, Experiment, HeaderNames, KeySource, MAX_EXPERIMENTS, Plan, Route, Selector, Variant,
};
use crate::request::Request;
use std::borrow::Cow;
use std::net::IpAddr;
use trust::Trust;

/// What the engine needs from the proxy besides headers; asked only when a route needs it.
pub trait Env {
    /// Milliseconds since the Unix epoch on the proxy clock.
    fn now_ms(&mut self) -> i64;
    /// The client address as the proxy sees it (`source.address`).
    fn source_ip(&mut self) -> Option<IpAddr>;
    /// A uniformly distributed random number.
    fn random(&mut self) -> u64;
    /// Whether the guard of route number `route`'s canary has halted it. Asked only for a request
    /// that would go to a guarded canary; a proxy that keeps no guard counts never halts.
    fn canary_halted(&mut self, _route: u32) -> bool {
        false
    }
}

/// The logical target, written in the target header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Stable,
    Canary,
    Blue,
    Green,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Stable => "stable",
            Target::Canary => "canary",
            Target::Blue => "blue",
            Target::Green => "green",
        }
    }
}

/// Why the cluster was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The stable cluster or the active colour, nothing else applied.
    Base,
    /// The active colour comes from `switch_at`.
    Scheduled,
    /// A preview override chose the colour.
    Preview,
    /// A force override chose the canary side.
    Forced,
    /// The sticky key's bucket put the request in the canary.
    Sticky,
    /// A per-request draw put the request in the canary.
    Random,
    /// An experiment variant's cluster serves the request.
    Variant,
    /// The request would have gone to the canary, but the canary's guard has halted it.
    Guard,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Base => "base",
            Reason::Scheduled => "scheduled",
            Reason::Preview => "preview",
            Reason::Forced => "forced",
            Reason::Sticky => "sticky",
            Reason::Random => "random",
            Reason::Variant => "variant",
            Reason::Guard => "guard",
        }
    }
}

/// The outcome for a matched request. Borrows everything from the plan: deciding allocates
/// nothing but a percent-decoded query key, when one is used.
#[derive(Debug, Clone)]
pub struct Decision<'p> {
    pub route: &'p Route,
    /// The route's position in the configuration.
    pub route_number: u32,
    pub target: Target,
    pub cluster: &'p str,
    /// The shadow cluster, when the request is mirrored.
    pub shadow: Option<&'p str>,
    pub reason: Reason,
    /// Variant number + 1 per experiment of the route; 0 when not enrolled.
    cohorts: [u8; MAX_EXPERIMENTS],
}

impl<'p> Decision<'p> {
    /// The experiments the request is enrolled in, with its variant, in configuration order.
    pub fn cohorts(&self) -> impl Iterator<Item = (&'p Experiment, &'p Variant)> + '_ {
        self.enrolments()
            .map(|(_, experiment, _, variant)| (experiment, variant))
    }

    /// Whether the request is sampled for a shadow comparison: the filter then sends the copy
    /// itself, and writes no shadow header.
    pub fn compared(&self) -> bool {
        self.shadow.is_some()
            && self
                .route
                .shadow
                .as_ref()
                .is_some_and(|s| s.compare.is_some())
    }

    /// The request headers the filter writes for this decision, to `write` in the order it
    /// writes them: the cluster, the target, the shadow (unless compared), one per cohort. The
    /// proxy and the command line's `explain` both take them from here.
    pub fn write_headers(&self, names: &'p HeaderNames, mut write: impl FnMut(&'p str, &'p str)) {
        write(&names.cluster, self.cluster);
        write(&names.target, self.target.as_str());
        if let Some(shadow) = self.shadow.filter(|_| !self.compared()) {
            write(&names.shadow, shadow);
        }
        for (experiment, variant) in self.cohorts() {
            write(&experiment.header, &variant.name);
        }
    }

    /// The same with the experiment's and the variant's positions in the configuration.
    pub fn enrolments(&self) -> impl Iterator<Item = (u8, &'p Experiment, u8, &'p Variant)> + '_ {
        let experiments = self.route.experiments.iter().zip(self.cohorts).zip(0u8..);
        experiments.filter_map(|((experiment, slot), e)| {
            let v = slot.checked_sub(1)?;
            Some((e, experiment, v, experiment.variants.get(usize::from(v))?))
        })
    }
}

/// Decide for one request: None when no route matches.
pub fn decide<'p>(
    plan: &'p Plan,
    request: &Request<'_>,
    env: &mut impl Env,
) -> Option<Decision<'p>> {
    let number = plan
        .index
        .first_match(request.authority(), request.path(), |i| {
            plan.routes
                .get(i as usize)
                .is_some_and(|route| matching::accepts(route, request))
        })?;
    let route = plan.routes.get(number as usize)?;
    let mut trust = Trust::new(&plan.overrides, request);
    let mut keys = Keys::default();

    // 1 and 2: the base cluster, and a preview of the other colour.
    let (mut target, mut cluster, mut reason) = match &route.base {
        Base::Stable(stable) => (Target::Stable, &**stable, Reason::Base),
        Base::BlueGreen(bg) => {
            let (colour, reason) = match blue_green::preview(bg, request, &mut trust, env) {
                Some(colour) => (colour, Reason::Preview),
                None => blue_green::active(bg, env),
            };
            (blue_green::target(colour), bg.cluster(colour), reason)
        }
    };

    // 3: the canary, unless its guard halted it: a failing canary takes no traffic, sticky and
    // forced requests included.
    let mut in_canary = false;
    if let Some(canary) = &route.canary
        && let Some(why) = canary::choose(canary, request, &mut keys, &mut trust, env)
    {
        if canary.guard.is_some() && env.canary_halted(number) {
            reason = Reason::Guard;
        } else {
            in_canary = true;
            (target, cluster, reason) = (Target::Canary, &*canary.cluster, why);
        }
    }

    // 4: experiments, evaluated for every matched request; a variant cluster only off the canary.
    let mut cohorts = [0u8; MAX_EXPERIMENTS];
    let mut variant_cluster_applied = in_canary;
    for (experiment, slot) in route.experiments.iter().zip(cohorts.iter_mut()) {
        let Some(variant) = experiments::assign(experiment, request, &mut keys) else {
            continue;
        };
        *slot = u8::try_from(variant + 1).unwrap_or(0);
        if !variant_cluster_applied
            && let Some(variant_cluster) = experiment
                .variants
                .get(variant)
                .and_then(|v| v.cluster.as_deref())
        {
            variant_cluster_applied = true;
            (cluster, reason) = (variant_cluster, Reason::Variant);
        }
    }

    // 5: shadow.
    let shadow = route
        .shadow
        .as_ref()
        .filter(|shadow| shadow::sampled(shadow, request, &mut keys, env))
        .map(|shadow| &*shadow.cluster);

    Some(Decision {
        route,
        route_number: number,
        target,
        cluster,
        shadow,
        reason,
        cohorts,
    })
}

/// A request's hashing keys, each list of sources read once: a route's canary, experiments and
/// shadow mostly hash the same key (`cookie:uid`), and reading one is a search of the headers.
#[derive(Default)]
pub struct Keys<'p, 'a> {
    /// The sources last asked for, and the key they gave.
    asked: Option<&'p [KeySource]>,
    key: Option<Cow<'a, [u8]>>,
}

impl<'p, 'a> Keys<'p, 'a> {
    /// [`Request::key`], read again only for other sources than the last ones asked for.
    pub fn get(&mut self, request: &Request<'a>, sources: &'p [KeySource]) -> Option<&[u8]> {
        if self.asked != Some(sources) {
            self.asked = Some(sources);
            self.key = request.key(sources);
        }
        self.key.as_deref()
    }
}

/// An override value read from the selector's header, else its cookie, kept only when `parse`
/// understands it (a header with a meaningless value does not hide a meaningful cookie).
fn override_value<T>(
    selector: &Selector,
    request: &Request<'_>,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Option<T> {
    let header = selector
        .header
        .as_deref()
        .and_then(|name| request.header(name.as_bytes()));
    let cookie = || {
        selector
            .cookie
            .as_deref()
            .and_then(|name| request.cookie(name.as_bytes()))
    };
    header
        .and_then(&parse)
        .or_else(|| cookie().and_then(&parse))
}

/// Whether a bucket (or a random draw) in basis points falls under a share in basis points,
/// without hashing or drawing when the share makes the answer certain.
fn under_share(share: u32, bucket: impl FnOnce() -> u32) -> bool {
    match share {
        0 => false,
        10_000.. => true,
        _ => bucket() < share,
    }
}

/// A random draw in basis points, 0..10000.
fn random_basis_points(env: &mut impl Env) -> u32 {
    u32::try_from(env.random() % 10_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_once_per_sources_give_what_the_request_gives() {
        let headers: &[(&[u8], &[u8])] = &[
            (b":path", b"/p?uid=q%20user"),
            (b"x-user", b"h-user"),
            (b"cookie", b"uid=c-user"),
        ];
        let request = Request::new(headers);
        let cookie = [KeySource::Cookie("uid".into())];
        let same_cookie = [KeySource::Cookie("uid".into())];
        let query = [KeySource::Query("uid".into())];
        let header = [KeySource::Header("x-user".into())];
        let mut keys = Keys::default();
        for sources in [&cookie[..], &same_cookie, &query, &header, &query, &cookie] {
            assert_eq!(
                keys.get(&request, sources),
                request.key(sources).as_deref(),
                "{sources:?}"
            );
        }
    }
}
