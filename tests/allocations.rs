//! The engine's hot path allocates nothing: deciding borrows from the plan and from the request's
//! headers. Counted with a global allocator around `Request::new` + `engine::decide`, for every
//! strategy, natively (the same code runs in the module).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use switchyard::engine::{self, Env};
use switchyard::request::Request;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Fixed(u64);

impl Env for Fixed {
    fn now_ms(&mut self) -> i64 {
        1_800_000_000_000
    }
    fn source_ip(&mut self) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, 1]))
    }
    fn random(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0
    }
}

const CONFIG: &str = r#"{
  "overrides": {"tokens": ["qa-team-token-0123456789abcdef"], "source_cidrs": ["10.0.0.0/8"]},
  "routes": [
    {"name": "checkout", "match": {"hosts": ["shop.example.com", "*.example.org"],
       "path_prefix": "/checkout", "methods": ["GET", "POST"]},
     "stable": "checkout-v1",
     "canary": {"cluster": "checkout-v2", "weight": 30, "sticky": ["cookie:session", "query:sid"],
                "force": {"header": "x-canary", "cookie": "canary"}},
     "experiments": [
       {"name": "ranker", "key": ["cookie:uid", "header:x-user-id"],
        "variants": [{"name": "control", "weight": 0.5},
                     {"name": "treatment", "weight": 0.5, "cluster": "checkout-ranker"}]},
       {"name": "layout", "key": ["query:uid", "cookie:uid"], "hash_version": 1,
        "namespace": {"id": "ns", "start": 0, "end": 0.8},
        "variants": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}]}],
     "shadow": {"cluster": "checkout-v3", "percent": 50, "key": ["cookie:uid"]}},
    {"name": "colours", "match": {"path_exact": "/bg"},
     "blue_green": {"active": "blue", "blue": "web-blue", "green": "web-green",
                    "preview": {"header": "x-preview", "cookie": "preview"},
                    "switch_at": {"active": "green", "at": "2030-01-01T00:00:00Z"}}},
    {"name": "rest", "stable": "web"}
  ]
}"#;

fn allocations(plan: &switchyard::plan::Plan, headers: &[(&[u8], &[u8])]) -> usize {
    let mut env = Fixed(7);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let request = Request::new(headers);
    let decided = engine::decide(plan, &request, &mut env).map(|d| d.cluster.len());
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(decided.is_some(), "every request here matches a route");
    after - before
}

#[test]
fn deciding_allocates_nothing_unless_a_query_key_must_be_percent_decoded() {
    let plan = switchyard::config::load(CONFIG.as_bytes()).expect("valid");
    let requests: &[&[(&[u8], &[u8])]] = &[
        // Sticky canary, both experiments, keyed shadow, from cookies.
        &[
            (b":method", b"GET"),
            (b":authority", b"shop.example.com"),
            (b":path", b"/checkout/cart?item=1"),
            (b"cookie", b"lang=en; session=s-1; uid=\"user-1\""),
        ],
        // Forced by a trusted token, keys from a header and the query string, wildcard host.
        &[
            (b":method", b"POST"),
            (b":authority", b"api.example.org:8443"),
            (b":path", b"/checkout?sid=s-2&uid=u-2"),
            (b"x-user-id", b"u-2"),
            (b"x-canary", b"always"),
            (b"x-switchyard-token", b"qa-team-token-0123456789abcdef"),
        ],
        // Forced by a cookie from a trusted source range; no key: random draws.
        &[
            (b":method", b"GET"),
            (b"host", b"shop.example.com"),
            (b":path", b"/checkout"),
            (b"cookie", b"canary=never"),
        ],
        // Blue-green, scheduled switch, preview.
        &[
            (b":method", b"GET"),
            (b":path", b"/bg"),
            (b"x-preview", b"green"),
        ],
        &[(b":method", b"GET"), (b":path", b"/bg")],
        // A route with nothing but a stable cluster.
        &[(b":method", b"GET"), (b":path", b"/")],
    ];
    for (i, headers) in requests.iter().enumerate() {
        assert_eq!(allocations(&plan, headers), 0, "request {i}");
    }

    // A query key with escapes is decoded into a buffer of its own: the one allocation allowed.
    let escaped: &[(&[u8], &[u8])] = &[
        (b":method", b"GET"),
        (b":authority", b"shop.example.com"),
        (b":path", b"/checkout?sid=s%2D3"),
    ];
    assert_eq!(allocations(&plan, escaped), 1);
}
