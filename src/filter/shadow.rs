//! Shadow comparison: the filter sends the sampled request's copy to the shadow cluster itself
//! (and to the noise cluster), keeps copies of the live answer as it streams past, and compares
//! the answers with `engine::compare` once both are in. The user's request and response are
//! never paused, changed or failed: every copy is taken from a body the stream continues with.
//!
//! **Where the calls are made.** Envoy cancels an HTTP context's calls when its stream ends
//! (`Context::~Context`), and the SDK delivers an answer to the context that was active when the
//! call was dispatched, dropping it when that context is gone. So a stream never dispatches: it
//! hands its comparison to this VM-wide table and enqueues its id on the VM's shared queue, and
//! the root context dispatches in `on_queue_ready`. The calls then belong to the root, which lives
//! as long as the plugin; a root retired by a push while it has calls in flight defers its
//! `on_done` until the last one is answered.
//!
//! **Bounds.** At most [`MAX_IN_FLIGHT`] comparisons and [`MAX_BUFFERED_BYTES`] of copies per
//! worker (VM); beyond either, a sampled request is `skipped`. A comparison that hears nothing
//! for [`GRACE_MS`] past its timeout ends anyway.

use super::header_map::HeaderMap;
use super::host;
use super::metrics;
use super::{Active, now_us};
use crate::engine::compare::{self, Answer, Outcome};
use crate::plan::{Compare, Plan};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Most comparisons one worker keeps at once, from the request's headers to the result.
pub const MAX_IN_FLIGHT: usize = 256;
/// Most bytes of copies (requests, live and shadow answers) one worker keeps at once.
pub const MAX_BUFFERED_BYTES: usize = 32 << 20;
/// How long past its `timeout_ms` a comparison waits for what it still lacks (a live answer on a
/// stream that never ends, an answer the host never delivered) before it ends anyway.
pub const GRACE_MS: i64 = 60_000;

/// Request headers the copy leaves out: hop-by-hop headers (RFC 9110 §7.6.1), the length (the
/// host sets it for the body it sends), and the mark the copy gets anew.
const NOT_COPIED: &[&[u8]] = &[
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"te",
    b"trailer",
    b"upgrade",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"content-length",
    MIRRORED.as_bytes(),
];

/// The header that marks the copy.
pub const MIRRORED: &str = "x-switchyard-mirrored";

thread_local! {
    static TABLE: RefCell<Table> = const { RefCell::new(Table::new()) };
}

struct Table {
    entries: Keyed<Entry>,
    next_id: u32,
    /// Calls in flight: token → (entry id, which upstream, the root context that owns it).
    calls: Keyed<(u32, Upstream, u32)>,
    /// This VM's shared queue: its name (unique to the VM) and token.
    queue: Option<(Box<str>, u32)>,
    buffered: usize,
    /// Mismatch lines logged in the current second: (second, lines).
    logged: (i64, u32),
}

/// A few hundred values by a `u32` key at most: a list is smaller than a hash map in the
/// module, and as fast at this size.
struct Keyed<T>(Vec<(u32, T)>);

impl Table {
    const fn new() -> Table {
        Table {
            entries: Keyed(Vec::new()),
            next_id: 0,
            calls: Keyed(Vec::new()),
            queue: None,
            buffered: 0,
            logged: (0, 0),
        }
    }
}

impl<T> Keyed<T> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn insert(&mut self, key: u32, value: T) {
        self.0.push((key, value));
    }

    fn get(&self, key: &u32) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn get_mut(&mut self, key: &u32) -> Option<&mut T> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn remove(&mut self, key: &u32) -> Option<T> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(at).1)
    }

    fn iter(&self) -> impl Iterator<Item = (&u32, &T)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|(_, v)| v)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Upstream {
    Shadow,
    Noise,
}

struct Entry {
    active: Rc<Active>,
    route: u32,
    /// `x-request-id`, for the log.
    request_id: Box<str>,
    /// When the request's headers came (proxy clock, µs): the sweep's clock until the copy is sent.
    started_us: i64,
    /// The copy, until it is sent.
    request: Option<Copy>,
    /// When the request was whole (proxy clock, µs); the live answer's latency counts from here.
    complete_us: Option<i64>,
    live: Live,
    shadow: Call,
    noise: Option<Call>,
    /// Bytes this entry holds, as counted in `Table::buffered`.
    bytes: usize,
}

struct Copy {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

enum Live {
    Streaming(Answer),
    Done {
        answer: Answer,
        elapsed_ms: u64,
    },
    /// The stream ended without a whole answer.
    Gone,
}

enum Call {
    Unsent,
    Sent { at_us: i64 },
    Answered { answer: Answer, elapsed_ms: u64 },
    Failed(Outcome),
}

impl Call {
    fn settled(&self) -> bool {
        matches!(self, Call::Answered { .. } | Call::Failed(_))
    }
}

fn compare_of(plan: &Plan, route: u32) -> Option<&Compare> {
    let route = plan.routes.get(route as usize)?;
    route.shadow.as_ref()?.compare.as_deref()
}

/// Register this VM's queue for the root context being configured (the newest root hears it).
pub fn register_queue(nonce: u64) {
    TABLE.with_borrow_mut(|t| {
        let name = match &t.queue {
            Some((name, _)) => name.clone(),
            None => ["switchyard.shadow.", &nonce.to_string()].concat().into(),
        };
        t.queue = host::register_shared_queue(&name).map(|token| (name, token));
    });
}

/// A sampled request on route number `route` whose answers are to be compared: its id, or None
/// when it is `skipped` at once (the worker's bounds, headers that cannot be copied).
pub fn begin(
    active: &Rc<Active>,
    route: u32,
    pairs: &[(&[u8], &[u8])],
    end_of_stream: bool,
) -> Option<u32> {
    let plan = &active.plan;
    let mut headers = Vec::with_capacity(pairs.len() + 1);
    let mut request_id: Box<str> = "-".into();
    let mut bytes = 0;
    let mut copyable = true;
    for &(name, value) in pairs {
        if NOT_COPIED.iter().any(|n| name.eq_ignore_ascii_case(n)) || plan.is_spoofable(name) {
            continue;
        }
        // The SDK's call takes `&str`: a value that is not UTF-8 cannot be copied faithfully.
        let (Ok(name), Ok(value)) = (std::str::from_utf8(name), std::str::from_utf8(value)) else {
            copyable = false;
            break;
        };
        if name.eq_ignore_ascii_case("x-request-id") {
            request_id = compare::cut(value.into()).into();
        }
        bytes += name.len() + value.len();
        headers.push((name.to_owned(), value.to_owned()));
    }
    headers.push((MIRRORED.into(), "true".into()));
    let id = TABLE.with_borrow_mut(|t| {
        if !copyable || t.entries.len() >= MAX_IN_FLIGHT || t.buffered + bytes > MAX_BUFFERED_BYTES
        {
            return None;
        }
        let compare = compare_of(plan, route)?;
        t.next_id = t.next_id.wrapping_add(1);
        let id = t.next_id;
        t.buffered += bytes;
        let noise = compare.noise_cluster.as_ref().map(|_| Call::Unsent);
        let entry = Entry {
            active: Rc::clone(active),
            route,
            request_id,
            started_us: now_us(),
            request: Some(Copy {
                headers,
                body: Vec::new(),
            }),
            complete_us: None,
            live: Live::Streaming(Answer::default()),
            shadow: Call::Unsent,
            noise,
            bytes,
        };
        t.entries.insert(id, entry);
        Some(id)
    });
    match id {
        Some(id) if end_of_stream => request_complete(id),
        Some(_) => {}
        None => count(plan, route, Outcome::Skipped),
    }
    id
}

/// A chunk of the request body went by (`size` bytes); the request is whole at `end_of_stream`.
/// None when the comparison ended (the body is over the limit).
pub fn request_body(id: u32, size: usize, end_of_stream: bool) -> Option<u32> {
    let kept = copy_chunk(id, BufferType::HttpRequestBody, size, |entry| {
        entry.request.as_mut().map(|copy| &mut copy.body)
    })?;
    if end_of_stream {
        request_complete(kept);
    }
    Some(kept)
}

/// The request is whole (its last body chunk, or its trailers): the copy is handed to the root
/// context to send.
pub fn request_complete(id: u32) {
    let queue = TABLE.with_borrow_mut(|t| {
        let entry = t.entries.get_mut(&id)?;
        entry.complete_us.get_or_insert_with(now_us);
        t.queue.as_ref().map(|(_, token)| *token)
    });
    let sent = queue.is_some_and(|token| host::enqueue_shared_queue(token, &id.to_le_bytes()));
    if !sent {
        end(id, Outcome::ShadowError);
    }
}

/// The live response's headers: its status and the compared headers.
pub fn response_headers(id: u32, end_of_stream: bool) -> Option<u32> {
    let map = HeaderMap::of(MapType::HttpResponseHeaders);
    let pairs = map.pairs();
    TABLE.with_borrow_mut(|t| {
        let entry = t.entries.get_mut(&id)?;
        let compare = compare_of(&entry.active.plan, entry.route)?;
        if let Live::Streaming(answer) = &mut entry.live {
            *answer = read_answer(compare, &pairs, Vec::new());
        }
        Some(())
    })?;
    if end_of_stream {
        response_complete(id);
    }
    Some(id)
}

/// A chunk of the live response body went by.
pub fn response_body(id: u32, size: usize, end_of_stream: bool) -> Option<u32> {
    let kept = copy_chunk(
        id,
        BufferType::HttpResponseBody,
        size,
        |entry| match &mut entry.live {
            Live::Streaming(answer) => Some(&mut answer.body),
            _ => None,
        },
    )?;
    if end_of_stream {
        response_complete(kept);
    }
    Some(kept)
}

/// The live answer is whole.
pub fn response_complete(id: u32) {
    let now = now_us();
    let ready = TABLE.with_borrow_mut(|t| {
        let entry = t.entries.get_mut(&id)?;
        let Live::Streaming(answer) = std::mem::replace(&mut entry.live, Live::Gone) else {
            return None;
        };
        let started = entry.complete_us.unwrap_or(now);
        entry.live = Live::Done {
            answer,
            elapsed_ms: elapsed_ms(started, now),
        };
        Some(())
    });
    if ready.is_some() {
        settle_if_ready(id);
    }
}

/// The user's stream is over: without a whole answer, or a whole request to copy (Envoy ends a
/// stream whose response completed first), there is nothing to compare.
pub fn stream_ended(id: u32) {
    let gone = TABLE.with_borrow(|t| {
        t.entries
            .get(&id)
            .is_some_and(|e| matches!(e.live, Live::Streaming(_)) || e.complete_us.is_none())
    });
    if gone {
        end(id, Outcome::Skipped);
    }
}

/// Append `size` bytes of `buffer` to the copy `target` picks, within the route's limit and the
/// worker's; past either the comparison ends as `skipped`. The id while it goes on.
fn copy_chunk(
    id: u32,
    buffer: BufferType,
    size: usize,
    target: impl FnOnce(&mut Entry) -> Option<&mut Vec<u8>>,
) -> Option<u32> {
    let over = TABLE.with_borrow_mut(|t| {
        let buffered = t.buffered;
        let entry = t.entries.get_mut(&id)?;
        let limit = compare_of(&entry.active.plan, entry.route)?.max_body_bytes as usize;
        let copy = target(entry)?;
        if copy.len() + size > limit || buffered + size > MAX_BUFFERED_BYTES {
            return Some(true);
        }
        if size > 0 {
            copy.extend(host::buffer(buffer, size).unwrap_or_default());
        }
        entry.bytes += size;
        t.buffered += size;
        Some(false)
    });
    match over {
        Some(false) => Some(id),
        Some(true) => {
            end(id, Outcome::Skipped);
            None
        }
        None => None,
    }
}

/// In the root context's `on_queue_ready`: send the copies whose ids wait on the queue.
pub fn dispatch_queued(root: u32) {
    let Some(token) = TABLE.with_borrow(|t| t.queue.as_ref().map(|(_, token)| *token)) else {
        return;
    };
    while let Some(item) = host::dequeue_shared_queue(token) {
        if let Ok(id) = <[u8; 4]>::try_from(item.as_slice()) {
            dispatch(root, u32::from_le_bytes(id));
        }
    }
}

fn dispatch(root: u32, id: u32) {
    let mut failed = None;
    TABLE.with_borrow_mut(|t| {
        let Some(entry) = t.entries.get_mut(&id) else {
            return;
        };
        let Some(compare) = compare_of(&entry.active.plan, entry.route) else {
            return;
        };
        let (Some(copy), Some(shadow)) = (
            entry.request.take(),
            entry
                .active
                .plan
                .routes
                .get(entry.route as usize)
                .and_then(|r| r.shadow.as_ref()),
        ) else {
            return;
        };
        let timeout = Duration::from_millis(compare.timeout_ms.into());
        let headers: Vec<(&str, &str)> = copy
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let send = |cluster: &str| {
            let at_us = now_us();
            match hostcalls::dispatch_http_call(
                cluster,
                headers.clone(),
                Some(&copy.body),
                Vec::new(),
                timeout,
            ) {
                Ok(token) => (Call::Sent { at_us }, Some(token)),
                // An unknown cluster, say: no answer will come.
                Err(_) => (Call::Failed(Outcome::ShadowError), None),
            }
        };
        let (call, token) = send(&shadow.cluster);
        entry.shadow = call;
        let mut tokens = vec![(token, Upstream::Shadow)];
        if let Some(noise) = &compare.noise_cluster {
            let (call, token) = send(noise);
            entry.noise = Some(call);
            tokens.push((token, Upstream::Noise));
        }
        // The request's copy is no longer held.
        let copied = copy.body.len()
            + copy
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
        entry.bytes -= copied.min(entry.bytes);
        t.buffered -= copied.min(t.buffered);
        if let Call::Failed(outcome) = entry.shadow {
            failed = Some(outcome);
        }
        for (token, upstream) in tokens {
            if let Some(token) = token {
                t.calls.insert(token, (id, upstream, root));
            }
        }
    });
    if let Some(outcome) = failed {
        end(id, outcome);
    } else {
        settle_if_ready(id);
    }
}

/// In the root context's `on_http_call_response`: an answer (or Envoy's word that none came).
/// Whether `root` still owns calls in flight.
pub fn answered(root: u32, token: u32, headers: usize, body_size: usize) -> bool {
    let now = now_us();
    let id = TABLE.with_borrow_mut(|t| {
        let (id, upstream, _) = t.calls.remove(&token)?;
        take_answer(t, id, upstream, now, headers, body_size);
        Some(id)
    });
    if let Some(id) = id {
        settle_if_ready(id);
    }
    owns_calls(root)
}

/// Read the answer to `upstream`'s call of entry `id` into the entry.
fn take_answer(
    t: &mut Table,
    id: u32,
    upstream: Upstream,
    now: i64,
    headers: usize,
    body_size: usize,
) {
    let room = MAX_BUFFERED_BYTES.saturating_sub(t.buffered);
    let Some(entry) = t.entries.get_mut(&id) else {
        return;
    };
    let Some(compare) = compare_of(&entry.active.plan, entry.route) else {
        return;
    };
    let call = match upstream {
        Upstream::Shadow => &mut entry.shadow,
        Upstream::Noise => match &mut entry.noise {
            Some(call) => call,
            None => return,
        },
    };
    let Call::Sent { at_us, .. } = *call else {
        return;
    };
    let elapsed_ms = elapsed_ms(at_us, now);
    *call = if headers == 0 {
        // A reset or a connection failure; Envoy may report its timeout this way too.
        let timed_out = elapsed_ms >= u64::from(compare.timeout_ms);
        Call::Failed(if timed_out {
            Outcome::Timeout
        } else {
            Outcome::ShadowError
        })
    } else if body_size > compare.max_body_bytes as usize || body_size > room {
        Call::Failed(Outcome::Skipped)
    } else {
        let map = HeaderMap::of(MapType::HttpCallResponseHeaders);
        let body = match body_size {
            0 => Vec::new(),
            size => host::buffer(BufferType::HttpCallResponseBody, size).unwrap_or_default(),
        };
        let answer = read_answer(compare, &map.pairs(), body);
        match envoy_reply(&answer, elapsed_ms, compare.timeout_ms) {
            Some(outcome) => Call::Failed(outcome),
            None => Call::Answered { answer, elapsed_ms },
        }
    };
    if let Call::Answered { answer, .. } = call {
        let held = answer.body.len();
        entry.bytes += held;
        t.buffered += held;
    }
}

/// Whether `root` owns calls in flight (its `on_done` then waits for them).
pub fn owns_calls(root: u32) -> bool {
    TABLE.with_borrow(|t| t.calls.values().any(|&(_, _, owner)| owner == root))
}

/// Envoy answers for an upstream it could not reach, or that did not answer in time, with a
/// reply of its own: those are not the shadow's answers.
fn envoy_reply(answer: &Answer, elapsed_ms: u64, timeout_ms: u32) -> Option<Outcome> {
    let body = answer.body.as_slice();
    match answer.status {
        504 if body == b"upstream request timeout" || elapsed_ms >= u64::from(timeout_ms) => {
            Some(Outcome::Timeout)
        }
        503 if body.starts_with(b"upstream connect error")
            || body == b"no healthy upstream"
            || body.starts_with(b"upstream reset") =>
        {
            Some(Outcome::ShadowError)
        }
        _ => None,
    }
}

fn ready(entry: &Entry) -> bool {
    let shadow_done = entry.shadow.settled();
    let noise_done = entry.noise.as_ref().is_none_or(Call::settled);
    let live_done = matches!(entry.live, Live::Done { .. });
    // A failed shadow call decides the result without the live answer.
    let failed = matches!(entry.shadow, Call::Failed(_));
    (live_done || failed) && shadow_done && noise_done
}

fn settle_if_ready(id: u32) {
    if TABLE.with_borrow(|t| t.entries.get(&id).is_some_and(ready)) {
        settle(id);
    }
}

/// Each second: end comparisons that waited too long for what they lack.
pub fn sweep(now_us: i64) {
    let expired: Vec<(u32, Outcome)> = TABLE.with_borrow(|t| {
        t.entries
            .iter()
            .filter_map(|(&id, e)| {
                let compare = compare_of(&e.active.plan, e.route)?;
                let since = match e.shadow {
                    Call::Sent { at_us, .. } => at_us,
                    _ => e.started_us,
                };
                let deadline = since + (i64::from(compare.timeout_ms) + GRACE_MS) * 1000;
                let outcome = match e.shadow {
                    Call::Sent { .. } => Outcome::Timeout,
                    _ => Outcome::Skipped,
                };
                (now_us > deadline).then_some((id, outcome))
            })
            .collect()
    });
    for (id, outcome) in expired {
        end(id, outcome);
    }
}

/// Compare the entry's answers (or take the outcome its calls came to) and end it.
fn settle(id: u32) {
    let Some(entry) = take(id) else {
        return;
    };
    let outcome = match (&entry.live, &entry.shadow) {
        (_, Call::Failed(outcome)) => *outcome,
        (Live::Done { answer: live, .. }, Call::Answered { answer: shadow, .. }) => {
            match compare_of(&entry.active.plan, entry.route) {
                Some(compare) => {
                    let noise = match &entry.noise {
                        Some(Call::Answered { answer, .. }) => Some(answer),
                        _ => None,
                    };
                    let verdict = compare::compare(compare, live, shadow, noise);
                    report(&entry, compare, &verdict);
                    verdict.outcome
                }
                None => Outcome::Skipped,
            }
        }
        _ => Outcome::Skipped,
    };
    finish(entry, outcome);
}

/// A mismatch's fields counted and, within `log_per_s`, logged.
fn report(entry: &Entry, compare: &Compare, verdict: &compare::Verdict) {
    let Some(route) = entry.active.plan.routes.get(entry.route as usize) else {
        return;
    };
    for item in &verdict.mismatched {
        metrics::add(
            &[
                "switchyard_shadow_field_mismatch_total;route=",
                &route.name,
                ";field=",
                item.name(compare),
            ]
            .concat(),
        );
    }
    let Some(first) = &verdict.first else {
        return;
    };
    if !may_log(compare.log_per_s) {
        return;
    }
    let tokens = &entry.active.plan.overrides.tokens;
    let clean = |value: &str| -> String {
        if tokens
            .iter()
            .any(|t| value.as_bytes().windows(t.len()).any(|w| w == &**t))
        {
            "(redacted)".into()
        } else {
            value.into()
        }
    };
    log::info!(
        "switchyard: shadow mismatch on route {} request {}: {} live {} shadow {}",
        crate::config::q(&route.name),
        clean(&entry.request_id),
        first.item.name(compare),
        clean(&first.live),
        clean(&first.shadow),
    );
}

/// Whether one more mismatch line fits this second, at most `per_s` (the route's `log_per_s`)
/// per worker.
fn may_log(per_s: u32) -> bool {
    let second = now_us() / 1_000_000;
    TABLE.with_borrow_mut(|t| {
        let (current, lines) = &mut t.logged;
        if *current != second {
            (*current, *lines) = (second, 0);
        }
        *lines < per_s && {
            *lines += 1;
            true
        }
    })
}

/// End comparison `id` with `outcome`.
fn end(id: u32, outcome: Outcome) {
    if let Some(entry) = take(id) {
        finish(entry, outcome);
    }
}

/// Comparison `id` out of the table, its copies no longer counted.
fn take(id: u32) -> Option<Entry> {
    TABLE.with_borrow_mut(|t| {
        let entry = t.entries.remove(&id)?;
        t.buffered -= entry.bytes.min(t.buffered);
        // Its calls, if still in flight, have nothing left to add.
        t.calls.0.retain(|(_, (entry, ..))| *entry != id);
        Some(entry)
    })
}

/// A comparison's result counted and its latencies recorded.
fn finish(entry: Entry, outcome: Outcome) {
    let plan = &entry.active.plan;
    count(plan, entry.route, outcome);
    let Some(route) = plan.routes.get(entry.route as usize) else {
        return;
    };
    let latency = |side: &str, ms: u64| {
        metrics::record(
            &[
                "switchyard_shadow_latency_ms;route=",
                &route.name,
                ";side=",
                side,
            ]
            .concat(),
            ms,
        );
    };
    if let Live::Done { elapsed_ms, .. } = entry.live {
        latency("live", elapsed_ms);
    }
    if let Call::Answered { elapsed_ms, .. } = entry.shadow {
        latency("shadow", elapsed_ms);
    }
}

fn count(plan: &Plan, route: u32, outcome: Outcome) {
    if let Some(route) = plan.routes.get(route as usize) {
        metrics::add(
            &[
                "switchyard_shadow_compared_total;route=",
                &route.name,
                ";result=",
                outcome.as_str(),
            ]
            .concat(),
        );
    }
}

/// An answer's status and compared headers from its header map, with its body.
fn read_answer(compare: &Compare, pairs: &[(&[u8], &[u8])], body: Vec<u8>) -> Answer {
    let value = |name: &[u8]| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let status = value(b":status")
        .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::with_capacity(compare.headers.len());
    for name in &compare.headers {
        headers.push(value(name.as_bytes()).map(Box::from));
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn elapsed_ms(from_us: i64, to_us: i64) -> u64 {
    u64::try_from(to_us.saturating_sub(from_us) / 1000).unwrap_or(0)
}
