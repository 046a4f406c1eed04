//! Route matching: the conditions of a route that the plan's index does not cover.

use crate::plan::{HeaderTest, Route};
use crate::request::Request;

/// The conditions of a route that the index does not cover: methods and headers.
pub fn accepts(route: &Route, request: &Request<'_>) -> bool {
    let method = request.method();
    if !route.methods.is_empty() && !route.methods.iter().any(|m| **m == *method) {
        return false;
    }
    route.headers.iter().all(|condition| {
        let value = request.header(condition.name.as_bytes());
        match (&condition.test, value) {
            (HeaderTest::Exact(want), Some(v)) => **want == *v,
            (HeaderTest::Prefix(want), Some(v)) => v.starts_with(want),
            (HeaderTest::Present, v) => v.is_some(),
            (HeaderTest::Absent, v) => v.is_none(),
            (HeaderTest::Exact(_) | HeaderTest::Prefix(_), None) => false,
        }
    })
}
