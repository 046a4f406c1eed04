//! The compiled plan: a validated configuration in the shape the request path wants, with
//! header names lower-cased, seeds resolved, weights in basis points, tokens and CIDRs parsed and
//! routes indexed. Nothing here is re-checked per request.

pub mod index;

use crate::cidr::Cidr;
pub use crate::hash::Seed;
pub use crate::request::KeySource;
pub use index::{HostPattern, PathPattern, RouteIndex};

/// The default header names, also those of a plan without configuration.
pub const DEFAULT_CLUSTER: &str = "x-switchyard-cluster";
pub const DEFAULT_TARGET: &str = "x-switchyard-target";
pub const DEFAULT_SHADOW: &str = "x-switchyard-shadow";
pub const DEFAULT_COHORT_PREFIX: &str = "x-switchyard-exp-";
pub const DEFAULT_DECISION: &str = "x-switchyard-decision";
pub const DEFAULT_TOKEN_HEADER: &str = "x-switchyard-token";

/// Most experiments on one route; a decision records cohorts in a fixed array of this size.
pub const MAX_EXPERIMENTS: usize = 16;
/// Most variants in one experiment.
pub const MAX_VARIANTS: usize = 32;
/// Most routes in one configuration.
pub const MAX_ROUTES: usize = 100_000;

#[derive(Debug)]
pub struct Plan {
    pub revision: Box<str>,
    pub debug: bool,
    pub telemetry: Telemetry,
    pub headers: HeaderNames,
    pub overrides: Overrides,
    pub routes: Vec<Route>,
    pub index: RouteIndex,
    /// A first test of request header names against the spoofable ones.
    pub spoof_screen: NameScreen,
}

impl Plan {
    /// What a filter that never received a valid configuration runs: no routes, default header
    /// names, so that spoofed routing headers are still removed.
    pub fn passthrough() -> Plan {
        Plan {
            revision: "".into(),
            debug: false,
            telemetry: Telemetry::default(),
            headers: HeaderNames::default(),
            overrides: Overrides::default(),
            routes: Vec::new(),
            index: RouteIndex::default(),
            spoof_screen: NameScreen::new(&HeaderNames::default(), DEFAULT_TOKEN_HEADER),
        }
    }

    /// Whether a request header must never reach an upstream as the client sent it: anything the
    /// filter writes (cluster, target, shadow, cohorts) and the override token.
    pub fn is_spoofable(&self, name: &[u8]) -> bool {
        self.headers.is_routing(&self.overrides.token_header, name)
    }

    /// Each spoofable header name `pairs` carries, once whatever its case, in order: what the
    /// filter removes (and `explain` reports). Names are bytes: a name the host lets through that
    /// is not UTF-8 (`x-switchyard-exp-\xff`) is spoofable all the same.
    pub fn each_spoofed(&self, pairs: &[(&[u8], &[u8])], mut found: impl FnMut(&[u8])) {
        for (i, (name, _)) in pairs.iter().enumerate() {
            // Spoofable names are rare: only they pay for looking back at earlier names, and most
            // names are told apart by their first byte and length.
            if !self.spoof_screen.admits(name) || !self.is_spoofable(name) {
                continue;
            }
            let seen = pairs
                .iter()
                .take(i)
                .any(|(earlier, _)| crate::request::same_name(earlier, name));
            if !seen {
                found(name);
            }
        }
    }

    /// One line for the log: `routes=3 canaries=1 experiments=2 shadows=1`.
    pub fn summary(&self) -> String {
        let canaries = self.routes.iter().filter(|r| r.canary.is_some()).count();
        let experiments: usize = self.routes.iter().map(|r| r.experiments.len()).sum();
        let shadows = self.routes.iter().filter(|r| r.shadow.is_some()).count();
        format!(
            "routes={} canaries={canaries} experiments={experiments} shadows={shadows}",
            self.routes.len()
        )
    }
}

/// Lower-cased names of the headers the filter writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNames {
    pub cluster: Box<str>,
    pub target: Box<str>,
    pub shadow: Box<str>,
    pub cohort_prefix: Box<str>,
    pub decision: Box<str>,
}

impl HeaderNames {
    /// Whether `name` is one the filter writes on requests (cluster, target, shadow, a cohort)
    /// or the override `token_header`: removed from every request, and never read as an input.
    pub fn is_routing(&self, token_header: &str, name: &[u8]) -> bool {
        [&*self.cluster, &*self.target, &*self.shadow, token_header]
            .iter()
            .any(|n| crate::request::same_name(name, n.as_bytes()))
            // Empty only while an invalid configuration is being compiled.
            || (!self.cohort_prefix.is_empty()
                && name
                    .get(..self.cohort_prefix.len())
                    .is_some_and(|p| crate::request::same_name(p, self.cohort_prefix.as_bytes())))
    }
}

/// A first, cheap test of a request header name against the spoofable names (the headers the
/// filter writes on requests, the cohort prefix and the override token header): the first byte,
/// lower-cased, must be one of theirs, and the length one of the exact names' or at least the
/// cohort prefix's. Nearly every header a browser sends fails it (`:path`, `cookie`, `accept`);
/// what passes is checked in full by [`Plan::is_spoofable`].
#[derive(Debug, Clone, Default)]
pub struct NameScreen {
    /// The lower-case bytes a name may start with.
    first_bytes: ByteSet,
    /// The lengths of the exact names.
    lengths: LengthSet,
    /// Names at least this long may start with the cohort prefix.
    prefix_len: usize,
}

impl NameScreen {
    pub fn new(headers: &HeaderNames, token_header: &str) -> NameScreen {
        let mut screen = NameScreen {
            prefix_len: headers.cohort_prefix.len().max(1),
            ..NameScreen::default()
        };
        let exact = [
            &*headers.cluster,
            &*headers.target,
            &*headers.shadow,
            token_header,
        ];
        for name in exact.iter().chain([&&*headers.cohort_prefix]) {
            if let Some(&first) = name.as_bytes().first() {
                screen.first_bytes.insert(first.to_ascii_lowercase());
            }
        }
        for name in exact {
            screen.lengths.insert(name.len());
        }
        screen
    }

    /// False only for a name that cannot be spoofable. The length comes first: it turns away
    /// most names on its own.
    #[inline(always)]
    pub fn admits(&self, name: &[u8]) -> bool {
        let len = name.len();
        (len >= self.prefix_len || self.lengths.may_contain(len))
            && name
                .first()
                .is_some_and(|&first| self.first_bytes.contains(first.to_ascii_lowercase()))
    }
}

/// A set of lengths, one bit each below 63; bit 63 stands for every longer length, so that a
/// length above 62 may be in the set when only another such length is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LengthSet(u64);

impl LengthSet {
    pub fn insert(&mut self, len: usize) {
        self.0 |= 1 << len.min(63);
    }

    /// False only for a length that is not in the set.
    #[inline]
    pub fn may_contain(&self, len: usize) -> bool {
        self.0 >> len.min(63) & 1 == 1
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// A set of bytes, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    pub fn insert(&mut self, byte: u8) {
        if let Some(word) = self.0.get_mut(usize::from(byte / 64)) {
            *word |= 1 << (byte % 64);
        }
    }

    #[inline]
    pub fn contains(&self, byte: u8) -> bool {
        self.0
            .get(usize::from(byte / 64))
            .is_some_and(|word| word >> (byte % 64) & 1 == 1)
    }
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            cluster: DEFAULT_CLUSTER.into(),
            target: DEFAULT_TARGET.into(),
            shadow: DEFAULT_SHADOW.into(),
            cohort_prefix: DEFAULT_COHORT_PREFIX.into(),
            decision: DEFAULT_DECISION.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Overrides {
    /// `from: anyone`.
    pub anyone: bool,
    pub token_header: Box<str>,
    pub tokens: Vec<Box<[u8]>>,
    pub source_cidrs: Vec<Cidr>,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            anyone: false,
            token_header: DEFAULT_TOKEN_HEADER.into(),
            tokens: Vec::new(),
            source_cidrs: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct Route {
    pub name: Box<str>,
    /// Empty: any method. Hosts and paths live in the [`RouteIndex`].
    pub methods: Vec<Box<[u8]>>,
    pub headers: Vec<HeaderCondition>,
    pub base: Base,
    pub canary: Option<Canary>,
    pub experiments: Vec<Experiment>,
    pub shadow: Option<Shadow>,
}

#[derive(Debug)]
pub struct HeaderCondition {
    pub name: Box<str>,
    pub test: HeaderTest,
}

#[derive(Debug)]
pub enum HeaderTest {
    Exact(Box<[u8]>),
    Prefix(Box<[u8]>),
    Present,
    Absent,
}

/// What serves a matched request before canary and experiments have their say.
#[derive(Debug)]
pub enum Base {
    Stable(Box<str>),
    BlueGreen(BlueGreen),
}

/// Reports that cost host calls on every matched request, hence off unless configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Telemetry {
    /// Count responses by status class and record their durations, per route and target.
    pub responses: bool,
    /// Hand the decision to access logs as filter state.
    pub access_log: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Blue,
    Green,
}

#[derive(Debug)]
pub struct BlueGreen {
    pub active: Colour,
    pub blue: Box<str>,
    pub green: Box<str>,
    pub preview: Selector,
    /// The colour active from the instant (Unix milliseconds) on.
    pub switch_at: Option<(Colour, i64)>,
}

impl BlueGreen {
    pub fn cluster(&self, colour: Colour) -> &str {
        match colour {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }
}

/// Where an override value is read; the header wins over the cookie.
#[derive(Debug, Default)]
pub struct Selector {
    pub header: Option<Box<str>>,
    pub cookie: Option<Box<str>>,
}

#[derive(Debug)]
pub struct Canary {
    pub cluster: Box<str>,
    /// The share of traffic: fixed, or scheduled by a ramp.
    pub weight: Weight,
    pub sticky: Vec<KeySource>,
    pub seed: Seed,
    pub force: Selector,
    pub guard: Option<Guard>,
}

/// A canary's share of traffic in basis points (1/100 of a percent), 0..=10000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weight {
    Fixed(u32),
    Ramp(Ramp),
}

/// A scheduled ramp: step `i` is in force from `start_ms + steps[i].begins_ms` until the next
/// step begins; the last one stays. Weights never decrease from one step to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ramp {
    /// `start_at`, Unix milliseconds.
    pub start_ms: i64,
    /// At least one step, in order.
    pub steps: Vec<RampStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RampStep {
    /// Basis points.
    pub weight: u32,
    /// Milliseconds after `start_ms` at which the step begins (the sum of the earlier holds).
    pub begins_ms: i64,
}

/// The canary guard, in the units its counting uses. Answers are counted in `buckets` buckets of
/// `bucket_s` seconds each (`buckets * bucket_s <= window_s`), so an answer older than `window_s`
/// never counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard {
    /// `max_error_rate` in parts per million.
    pub max_errors_ppm: Option<u32>,
    pub min_requests: u32,
    pub bucket_s: u32,
    pub buckets: u32,
    pub latency: Option<LatencyGuard>,
}

impl Guard {
    /// Most buckets a window is counted in: 1-second buckets for windows up to a minute.
    pub const MAX_BUCKETS: u32 = 60;

    /// Whether the route's base cluster is measured too (`latency.max_ratio`).
    pub fn measures_base(&self) -> bool {
        self.latency.is_some_and(|l| l.max_ratio.is_some())
    }
}

/// `canary.guard.latency`: the canary's `quantile` of response latency over the window, against
/// an absolute limit, a multiple of the base cluster's, or both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyGuard {
    /// 0.5..=0.999.
    pub quantile: f64,
    /// `max_ms`, in microseconds.
    pub max_us: Option<u64>,
    /// At least 1.
    pub max_ratio: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashVersion {
    V1,
    V2,
}

#[derive(Debug)]
pub struct Experiment {
    pub name: Box<str>,
    /// `cohort_prefix` + name, ready to write.
    pub header: Box<str>,
    pub key: Vec<KeySource>,
    pub hash_version: HashVersion,
    pub seed: Seed,
    pub namespace: Option<Namespace>,
    pub variants: Vec<Variant>,
    /// GrowthBook bucket ranges, one per variant, coverage applied.
    pub ranges: Vec<(f64, f64)>,
}

#[derive(Debug)]
pub struct Namespace {
    pub id: Box<str>,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug)]
pub struct Variant {
    pub name: Box<str>,
    pub cluster: Option<Box<str>>,
}

#[derive(Debug)]
pub struct Shadow {
    pub cluster: Box<str>,
    /// Share mirrored in basis points, 0..=10000.
    pub percent: u32,
    pub key: Vec<KeySource>,
    pub seed: Seed,
    pub methods: Vec<Box<[u8]>>,
    /// With it the filter sends the copy itself and writes no shadow header.
    pub compare: Option<Box<Compare>>,
}

/// `shadow.compare`: the filter sends the copy itself and compares the answers.
#[derive(Debug)]
pub struct Compare {
    pub timeout_ms: u32,
    pub max_body_bytes: u32,
    /// With none, bodies are compared byte for byte.
    pub fields: Vec<Field>,
    /// Absolute, for numbers.
    pub tolerance: f64,
    /// Response header names, lower-cased.
    pub headers: Vec<Box<str>>,
    pub noise_cluster: Option<Box<str>>,
    pub log_per_s: u32,
}

/// A compared field: its pointer as configured (the metric's `field` label) and as read.
#[derive(Debug)]
pub struct Field {
    pub name: Box<str>,
    pub pointer: crate::json::Pointer,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_screen_admits_every_spoofable_name_and_turns_away_a_browsers_headers() {
        let headers = HeaderNames {
            cluster: "cluster".into(),
            target: "x-t".into(),
            shadow: "x-switchyard-shadow".into(),
            cohort_prefix: "cohort-".into(),
            decision: "x-switchyard-decision".into(),
        };
        let screen = NameScreen::new(
            &headers,
            "x-token-header-of-some-length-beyond-63-bytes-so-the-top-bit-counts",
        );
        let plan = Plan {
            headers,
            overrides: Overrides {
                token_header: "x-token-header-of-some-length-beyond-63-bytes-so-the-top-bit-counts"
                    .into(),
                ..Overrides::default()
            },
            spoof_screen: screen,
            ..Plan::passthrough()
        };
        let mut names: Vec<String> = [
            "cluster",
            "x-t",
            "x-switchyard-shadow",
            "cohort-",
            "cohort-a",
            "Cohort-Ranker",
            "x-token-header-of-some-length-beyond-63-bytes-so-the-top-bit-counts",
            "CLUSTER",
            "X-T",
            "",
            "c",
            "x",
            "x-u",
            "clusters",
            "cookie",
            "x-request-id",
        ]
        .map(String::from)
        .to_vec();
        names.extend((0..=255u8).map(|b| String::from_utf8_lossy(&[b, b'-', b't']).into_owned()));
        for name in &names {
            if plan.is_spoofable(name.as_bytes()) {
                assert!(plan.spoof_screen.admits(name.as_bytes()), "{name:?}");
            }
        }
        for browser in [
            ":path",
            ":authority",
            "cookie",
            "accept",
            "user-agent",
            "referer",
        ] {
            assert!(!plan.spoof_screen.admits(browser.as_bytes()), "{browser:?}");
        }
    }
}
