//! A route: its name, its match, its base (stable or blue-green) and its strategies.

use super::Part::{Quoted, Text};
use super::{Compiler, Inputs, is_slug};
use crate::config::{self, Path};
use crate::plan::{self, HostPattern, PathPattern};

/// A compiled `match`: hosts and path go to the index, methods and conditions to the route.
struct Matcher {
    hosts: Vec<HostPattern>,
    path: PathPattern,
    methods: Vec<Box<[u8]>>,
    conditions: Vec<plan::HeaderCondition>,
}

impl Compiler {
    pub(super) fn route(
        &mut self,
        at: &Path<'_>,
        route: &config::Route,
        headers: &plan::HeaderNames,
        overrides: &plan::Overrides,
    ) -> Option<(plan::Route, Vec<HostPattern>, PathPattern)> {
        let before = self.problems.len();
        let inputs = Inputs {
            headers,
            token_header: &overrides.token_header,
        };
        let name_at = Path::Key(at, "name");
        let name = self
            .required(&name_at, &route.name)
            .map(String::as_str)
            .unwrap_or_default();
        if route.name.is_some() && !is_slug(name, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            self.report(
                &name_at,
                &[Text("must match [a-z0-9_.-]{1,64}, got "), Quoted(name)],
            );
        }

        let Matcher {
            hosts,
            path,
            methods,
            conditions,
        } = self.matcher(&Path::Key(at, "match"), &route.matcher, &inputs);

        let base = match (&route.blue_green, &route.stable) {
            (Some(bg), _) => self
                .blue_green(&Path::Key(at, "blue_green"), bg, &inputs)
                .map(plan::Base::BlueGreen),
            (None, Some(stable)) => self
                .cluster(&Path::Key(at, "stable"), stable)
                .map(plan::Base::Stable),
            (None, None) => {
                self.problem(
                    &Path::Key(at, "stable"),
                    "required unless blue_green is given",
                );
                None
            }
        };
        let canary = route
            .canary
            .as_ref()
            .and_then(|c| self.canary(&Path::Key(at, "canary"), c, name, &inputs));
        let experiments =
            self.experiments(&Path::Key(at, "experiments"), &route.experiments, &inputs);
        let shadow = route
            .shadow
            .as_ref()
            .and_then(|s| self.shadow(&Path::Key(at, "shadow"), s, name, &inputs));

        if self.problems.len() > before {
            return None;
        }
        let route = plan::Route {
            name: name.into(),
            methods,
            headers: conditions,
            base: base?,
            canary,
            experiments,
            shadow,
        };
        Some((route, hosts, path))
    }

    /// A route's `match`: its hosts and path for the index, its methods and header conditions
    /// for the route itself.
    fn matcher(&mut self, at: &Path<'_>, m: &config::Match, inputs: &Inputs<'_>) -> Matcher {
        let hosts = self.hosts(&Path::Key(at, "hosts"), &m.hosts);
        let path = match (&m.path_prefix, &m.path_exact) {
            (Some(_), Some(_)) => {
                self.problem(
                    at,
                    "path_prefix and path_exact are exclusive; give at most one",
                );
                PathPattern::Any
            }
            (Some(p), None) => self
                .path(&Path::Key(at, "path_prefix"), p)
                .map_or(PathPattern::Any, PathPattern::Prefix),
            (None, Some(p)) => self
                .path(&Path::Key(at, "path_exact"), p)
                .map_or(PathPattern::Any, PathPattern::Exact),
            (None, None) => PathPattern::Any,
        };
        let methods = self.methods(&Path::Key(at, "methods"), &m.methods);
        let list = Path::Key(at, "headers");
        let mut conditions = Vec::new();
        for (i, h) in m.headers.iter().enumerate() {
            conditions.extend(self.header_condition(&Path::Index(&list, i), h, inputs));
        }
        Matcher {
            hosts,
            path,
            methods,
            conditions,
        }
    }

    fn header_condition(
        &mut self,
        at: &Path<'_>,
        h: &config::HeaderMatch,
        inputs: &Inputs<'_>,
    ) -> Option<plan::HeaderCondition> {
        let name_at = Path::Key(at, "name");
        let name = self
            .required(&name_at, &h.name)
            .and_then(|n| self.input_header(&name_at, n, inputs, true));
        let test = match (&h.exact, &h.prefix, h.present) {
            (Some(v), None, None) => Some(plan::HeaderTest::Exact(v.as_bytes().into())),
            (None, Some(v), None) => Some(plan::HeaderTest::Prefix(v.as_bytes().into())),
            (None, None, Some(true)) => Some(plan::HeaderTest::Present),
            (None, None, Some(false)) => Some(plan::HeaderTest::Absent),
            _ => {
                self.problem(at, "give exactly one of exact, prefix, present");
                None
            }
        };
        Some(plan::HeaderCondition {
            name: name?,
            test: test?,
        })
    }
}
