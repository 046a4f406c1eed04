use std::net::IpAddr;
use switchyard::engine::{self, Env};
use switchyard::request::Request;
struct E(u64);
impl Env for E {
    fn now_ms(&mut self) -> i64 {
        0
    }
    fn source_ip(&mut self) -> Option<IpAddr> {
        None
    }
    fn random(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1);
        self.0
    }
}
const CFG: &str = r#"{
  "revision": "long-run",
  "debug": true,
  "overrides": {"tokens": ["qa-team-token-0123456789abcdef"], "source_cidrs": ["10.0.0.0/8"]},
  "routes": [
    {"name": "static", "match": {"hosts": ["cdn.example.com"]}, "stable": "cdn"},
    {
      "name": "checkout",
      "match": {"hosts": ["shop.example.com", "*.shop.example.com"], "path_prefix": "/checkout",
                "methods": ["GET", "POST"]},
      "stable": "checkout-v1",
      "canary": {"cluster": "checkout-v2", "weight": 10, "sticky": ["cookie:session"],
                 "force": {"header": "x-canary", "cookie": "canary"}},
      "experiments": [{
        "name": "ranker",
        "key": ["cookie:uid", "header:x-user-id"],
        "variants": [{"name": "control", "weight": 0.5},
                     {"name": "treatment", "weight": 0.5, "cluster": "checkout-ranker"}]
      }],
      "shadow": {"cluster": "checkout-v3", "percent": 25, "key": ["cookie:uid"]}
    }
  ]
}"#;
#[inline(never)]
fn one(plan: &switchyard::plan::Plan, h: &[(&[u8], &[u8])], e: &mut E) -> usize {
    let r = Request::new(h);
    engine::decide(plan, &r, e)
        .map(|d| d.cluster.len())
        .unwrap_or(0)
}
fn main() {
    let plan = switchyard::config::load(CFG.as_bytes()).unwrap();
    let h: &[(&[u8], &[u8])] = &[
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"shop.example.com"),
        (b":path", b"/checkout/cart?item=1"),
        (b"user-agent", b"Mozilla/5.0 (fuel)"),
        (b"accept", b"text/html"),
        (b"cookie", b"lang=en; session=s-0001; uid=\"user-1\""),
    ];
    let mut e = E(1);
    let mut t = 0;
    for _ in 0..1000 {
        t += one(&plan, h, &mut e);
    }
    println!("{t}");
}
