//! Properties (`proxy_get_property`): values set by the test per host (`xds.node.*`, `plugin_*`)
//! or per stream (`source.address`, `request.*`), plus the `request.*` attributes Envoy derives
//! from the request headers. Paths travel as NUL-separated segments; values as raw bytes (strings
//! as UTF-8, integers as 8 little-endian bytes, as Envoy serializes them).

use std::collections::HashMap;

use super::headers::HeaderMap;

/// Values set by the test, keyed by path segments.
#[derive(Clone, Debug, Default)]
pub(crate) struct Properties {
    values: HashMap<Vec<String>, Vec<u8>>,
}

impl Properties {
    pub(crate) fn set(&mut self, path: &[&str], value: Vec<u8>) {
        self.values.insert(
            path.iter().map(|segment| segment.to_string()).collect(),
            value,
        );
    }

    pub(crate) fn get(&self, path: &[String]) -> Option<&[u8]> {
        self.values.get(path).map(Vec::as_slice)
    }
}

/// Splits a serialized property path into its segments.
pub(crate) fn parse_path(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|segment| String::from_utf8_lossy(segment).into_owned())
        .collect()
}

/// The `request.*` attributes Envoy computes from the request headers (its CEL `RequestWrapper`).
pub(crate) fn request_attribute(headers: &HeaderMap, path: &[String]) -> Option<Vec<u8>> {
    let [request, attribute, rest @ ..] = path else {
        return None;
    };
    if request != "request" {
        return None;
    }
    let header = |name: &str| headers.get(name).map(<[u8]>::to_vec);
    let path_value = || headers.get(":path").unwrap_or_default();
    let value = match (attribute.as_str(), rest) {
        ("headers", [name]) => join_values(headers, name)?,
        (_, [_, ..]) => return None,
        ("path", []) => header(":path")?,
        ("url_path", []) => path_value()
            .split(|&b| b == b'?')
            .next()
            .unwrap_or_default()
            .to_vec(),
        ("query", []) => match path_value().iter().position(|&b| b == b'?') {
            Some(at) => path_value()[at + 1..].to_vec(),
            None => Vec::new(),
        },
        ("host", []) => header(":authority")?,
        ("scheme", []) => header(":scheme")?,
        ("method", []) => header(":method")?,
        ("referer", []) => header("referer")?,
        ("useragent", []) => header("user-agent")?,
        ("id", []) => header("x-request-id")?,
        _ => return None,
    };
    Some(value)
}

/// `request.headers.<name>`: Envoy joins the values of a repeated header with commas.
fn join_values(headers: &HeaderMap, name: &str) -> Option<Vec<u8>> {
    let name = name.to_ascii_lowercase();
    let values: Vec<&[u8]> = headers
        .entries()
        .iter()
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.as_slice())
        .collect();
    (!values.is_empty()).then(|| values.join(&b','))
}
