//! The top level of the document: the names of the headers the filter writes, who may
//! override, and the revision.

use super::Part::{Int, Quoted, Text};
use super::{Compiler, MAX_NAME_LEN, MIN_TOKEN_LEN};
use crate::cidr::Cidr;
use crate::config::{Config, OverrideFrom, Path};
use crate::plan;

impl Compiler {
    pub(super) fn headers(&mut self, config: &Config) -> plan::HeaderNames {
        let h = &config.headers;
        let headers = Path::Key(&Path::Root, "headers");
        let mut name = |field: &str, value: &str| -> Box<str> {
            self.header_name(&Path::Key(&headers, field), value, false)
                .unwrap_or_default()
        };
        let names = plan::HeaderNames {
            cluster: name("cluster", &h.cluster),
            target: name("target", &h.target),
            shadow: name("shadow", &h.shadow),
            cohort_prefix: name("cohort_prefix", &h.cohort_prefix),
            decision: name("decision", &h.decision),
        };
        let written = [
            ("cluster", &names.cluster),
            ("target", &names.target),
            ("shadow", &names.shadow),
            ("decision", &names.decision),
        ];
        for (i, (field, value)) in written.iter().enumerate() {
            let at = Path::Key(&headers, field);
            if written
                .iter()
                .take(i)
                .any(|(_, earlier)| earlier == value && !value.is_empty())
            {
                self.report(
                    &at,
                    &[Quoted(value), Text(" is already used by another header")],
                );
            }
            if !names.cohort_prefix.is_empty() && value.starts_with(&*names.cohort_prefix) {
                self.report(
                    &at,
                    &[
                        Quoted(value),
                        Text(" starts with cohort_prefix "),
                        Quoted(&names.cohort_prefix),
                    ],
                );
            }
        }
        names
    }

    pub(super) fn overrides(
        &mut self,
        config: &Config,
        headers: &plan::HeaderNames,
    ) -> plan::Overrides {
        let o = &config.overrides;
        let overrides = Path::Key(&Path::Root, "overrides");
        let at = Path::Key(&overrides, "token_header");
        let token_header = self
            .header_name(&at, &o.token_header, false)
            .unwrap_or_default();
        if [
            &headers.cluster,
            &headers.target,
            &headers.shadow,
            &headers.decision,
        ]
        .contains(&&token_header)
            || (!headers.cohort_prefix.is_empty()
                && token_header.starts_with(&*headers.cohort_prefix))
        {
            self.report(
                &at,
                &[
                    Quoted(&token_header),
                    Text(" is a header Switchyard writes"),
                ],
            );
        }
        let mut tokens = Vec::new();
        let list = Path::Key(&overrides, "tokens");
        for (i, token) in o.tokens.iter().enumerate() {
            let at = Path::Index(&list, i);
            // Never echo a token: problems are logged.
            if token.chars().count() < MIN_TOKEN_LEN {
                self.report(
                    &at,
                    &[
                        Text("must be at least "),
                        Int(MIN_TOKEN_LEN),
                        Text(" characters (value not shown)"),
                    ],
                );
            } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
                self.problem(
                    &at,
                    "must be visible ASCII to travel in a header (value not shown)",
                );
            } else {
                tokens.push(token.as_bytes().into());
            }
        }
        let mut source_cidrs = Vec::new();
        let list = Path::Key(&overrides, "source_cidrs");
        for (i, cidr) in o.source_cidrs.iter().enumerate() {
            match Cidr::parse(cidr) {
                Ok(cidr) => source_cidrs.push(cidr),
                Err(e) => self.report(
                    &Path::Index(&list, i),
                    &[Text(&e), Text(", got "), Quoted(cidr)],
                ),
            }
        }
        plan::Overrides {
            anyone: o.from == OverrideFrom::Anyone,
            token_header,
            tokens,
            source_cidrs,
        }
    }

    pub(super) fn revision(&mut self, revision: &str) -> Box<str> {
        if revision.len() > MAX_NAME_LEN
            || !revision
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b';')
        {
            self.report(
                &Path::Key(&Path::Root, "revision"),
                &[
                    Text("must be printable ASCII without ';', at most "),
                    Int(MAX_NAME_LEN),
                    Text(" characters, got "),
                    Quoted(revision),
                ],
            );
        }
        revision.into()
    }
}
