//! Who may override: everyone (`from: anyone`), or a request carrying a valid token or coming
//! from a listed source range. Asked only when a request actually carries an override, and
//! answered at most once per request.

use super::Env;
use crate::plan::Overrides;
use crate::request::Request;

pub struct Trust<'p, 'q, 'r> {
    overrides: &'p Overrides,
    request: &'q Request<'r>,
    verdict: Option<bool>,
}

impl<'p, 'q, 'r> Trust<'p, 'q, 'r> {
    pub fn new(overrides: &'p Overrides, request: &'q Request<'r>) -> Self {
        Trust {
            overrides,
            request,
            verdict: None,
        }
    }

    pub fn allowed(&mut self, env: &mut impl Env) -> bool {
        if let Some(verdict) = self.verdict {
            return verdict;
        }
        let o = self.overrides;
        let verdict = o.anyone
            || self
                .request
                .header(o.token_header.as_bytes())
                .is_some_and(|token| {
                    o.tokens
                        .iter()
                        .fold(false, |ok, t| ok | constant_time_eq(t, token))
                })
            || (!o.source_cidrs.is_empty()
                && env
                    .source_ip()
                    .is_some_and(|ip| o.source_cidrs.iter().any(|c| c.contains(ip))));
        self.verdict = Some(verdict);
        verdict
    }
}

/// Equality whose time depends only on the lengths, so a token cannot be guessed byte by byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!constant_time_eq(b"0123456789abcdef", b"0123456789abcdeF"));
        assert!(!constant_time_eq(b"0123456789abcdef", b"0123456789abcde"));
    }
}
