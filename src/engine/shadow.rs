//! Shadow: whether a request is mirrored. Keyed sampling mirrors a fixed set of users; without a
//! key each request is drawn. Only the listed methods are mirrored (writes are opt-in).

use super::{Env, random_basis_points, under_share};
use crate::hash;
use crate::plan::Shadow;
use crate::request::Request;

pub fn sampled(shadow: &Shadow, request: &Request<'_>, env: &mut impl Env) -> bool {
    let method = request.method();
    if !shadow.methods.iter().any(|m| **m == *method) {
        return false;
    }
    match request.key(&shadow.key) {
        Some(key) => under_share(shadow.percent, || {
            hash::bucket_v2_basis_points(&shadow.seed, &key)
        }),
        None => under_share(shadow.percent, || random_basis_points(env)),
    }
}
