//! Shadow: whether a request is mirrored. Keyed sampling mirrors a fixed set of users; without a
//! key each request is drawn. Only the listed methods are mirrored (writes are opt-in).

use super::{Env, Keys, random_basis_points, under_share};
use crate::plan::Shadow;
use crate::request::Request;

pub fn sampled<'p, 'a>(
    shadow: &'p Shadow,
    request: &Request<'a>,
    keys: &mut Keys<'p, 'a>,
    env: &mut impl Env,
) -> bool {
    let method = request.method();
    if !shadow.methods.iter().any(|m| **m == *method) {
        return false;
    }
    match keys.get(request, &shadow.key) {
        Some(key) => under_share(shadow.percent, || shadow.seed.bucket_v2_basis_points(key)),
        None => under_share(shadow.percent, || random_basis_points(env)),
    }
}
