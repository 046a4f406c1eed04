//! The JSON parser of the module: the document as a small tree, with serde_json's strictness,
//! numbers and error messages (a test compares the two on every kind of mistake), and a key
//! repeated in one object refused at its JSON path.
//!
//! Why not serde_json in the module: its generic machinery and `Value` cost a tenth of the
//! module's size. serde_json stays the reference, and the derives on the contract types stay the
//! source of the JSON Schema.

use std::fmt;

/// Where a value is, as a chain of borrowed links: free to build while descending, rendered as
/// `routes[2].canary.weight` (or `$`) only when something is wrong.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    pub(crate) fn render(&self) -> String {
        match self {
            Path::Root => "$".into(),
            Path::Key(Path::Root, key) => (*key).into(),
            Path::Key(parent, key) => format!("{}.{key}", parent.render()),
            Path::Index(parent, i) => format!("{}[{i}]", parent.render()),
        }
    }
}

/// A JSON value. Object members are sorted by key: looked up by binary search, and unknown fields
/// are reported in that order.
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<Member>),
}

pub(crate) struct Member {
    pub key: String,
    pub value: Json,
    /// Where the key ends, to place a duplicate.
    end: usize,
}

/// A number as serde_json reads it: an integer when it is one and fits, else a float.
#[derive(Clone, Copy)]
pub(crate) enum Number {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

impl Number {
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Number::PosInt(n) => Some(n),
            _ => None,
        }
    }

    /// The number as an integer, when it was written as one that fits.
    pub fn as_exact(self) -> Option<i128> {
        match self {
            Number::PosInt(n) => Some(n.into()),
            Number::NegInt(n) => Some(n.into()),
            Number::Float(_) => None,
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Number::PosInt(n) => n as f64,
            Number::NegInt(n) => n as f64,
            Number::Float(f) => f,
        }
    }
}

/// As serde_json writes it: floats always with a `.` or an exponent (`100.0`, `1e-7`).
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::PosInt(n) => write!(f, "{n}"),
            Number::NegInt(n) => write!(f, "{n}"),
            Number::Float(x) => f.write_str(zmij::Buffer::new().format_finite(x)),
        }
    }
}

/// The member `key` of an object.
pub(crate) fn member<'j>(members: &'j [Member], key: &str) -> Option<&'j Json> {
    members
        .binary_search_by(|m| m.key.as_str().cmp(key))
        .ok()
        .and_then(|i| members.get(i))
        .map(|m| &m.value)
}

/// An RFC 6901 JSON Pointer (`/prediction/scores/0`, `~0` for `~` and `~1` for `/`), read once
/// from the configuration and resolved against many documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Pointer {
    tokens: Vec<Box<str>>,
}

impl Pointer {
    /// The pointer `text`, or None if it is not one: it must be empty (the whole document) or
    /// start with `/`, and every `~` must be followed by `0` or `1`.
    pub fn parse(text: &str) -> Option<Pointer> {
        if text.is_empty() {
            return Some(Pointer { tokens: Vec::new() });
        }
        let mut tokens = Vec::new();
        for raw in text.strip_prefix('/')?.split('/') {
            let mut token = Vec::with_capacity(raw.len());
            let mut bytes = raw.bytes();
            while let Some(b) = bytes.next() {
                token.push(match b {
                    b'~' => match bytes.next()? {
                        b'0' => b'~',
                        b'1' => b'/',
                        _ => return None,
                    },
                    b => b,
                });
            }
            tokens.push(String::from_utf8(token).ok()?.into());
        }
        Some(Pointer { tokens })
    }

    /// The value the pointer names in `document`, if there is one. An array is indexed by a
    /// decimal number without leading zeros; `-` (past the end) and anything else name nothing.
    pub(crate) fn resolve<'j>(&self, document: &'j Json) -> Option<&'j Json> {
        let mut at = document;
        for token in &self.tokens {
            at = match at {
                Json::Object(members) => member(members, token)?,
                Json::Array(items) => {
                    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
                    let canonical = digits && (&**token == "0" || !token.starts_with('0'));
                    let index: usize = token.parse().ok().filter(|_| canonical)?;
                    items.get(index)?
                }
                _ => return None,
            };
        }
        Some(at)
    }
}

/// Compact JSON, as serde_json's `to_string` writes it (members in key order).
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n}"),
            Json::String(s) => write_string(f, s),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Json::Object(members) => {
                f.write_str("{")?;
                for (i, m) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_string(f, &m.key)?;
                    write!(f, ":{}", m.value)?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "{}", quoted(s))
}

/// `s` quoted and escaped as in JSON (control characters as `\u00XX`). Not `{:?}`: its Unicode
/// tables would be most of the weight of the configuration's messages in the module.
pub(crate) fn quoted(s: &str) -> impl fmt::Display + '_ {
    fmt::from_fn(move |f| {
        f.write_str("\"")?;
        for c in s.chars() {
            match c {
                '"' | '\\' => write!(f, "\\{c}")?,
                c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    })
}

/// The document in `bytes`, or what is wrong with it: a syntax error (path `$`) or the first key
/// repeated in an object (at its path), with serde_json's message and line and column.
pub(crate) fn parse(bytes: &[u8]) -> Result<Json, (String, String)> {
    let mut p = Parser {
        bytes,
        at: 0,
        depth: 128,
        duplicate: None,
    };
    let document = p
        .value(&Path::Root)
        .and_then(|document| match p.whitespace() {
            Some(_) => Err(p.peek_error(TRAILING_CHARACTERS)),
            None => Ok(document),
        });
    // A repeated key stops serde_json where it is read, before any later syntax error.
    if let Some((at, path, key)) = p.duplicate.take() {
        let message = format!("duplicate field `{key}`{}", p.position(at, 0));
        return Err((path, message));
    }
    document.map_err(|e| {
        let message = format!("invalid JSON: {}{}", e.message, p.position(e.at, e.back));
        ("$".into(), message)
    })
}

const EOF_LIST: &str = "EOF while parsing a list";
const EOF_OBJECT: &str = "EOF while parsing an object";
const EOF_STRING: &str = "EOF while parsing a string";
const EOF_VALUE: &str = "EOF while parsing a value";
const EXPECTED_COLON: &str = "expected `:`";
const EXPECTED_LIST_COMMA_OR_END: &str = "expected `,` or `]`";
const EXPECTED_OBJECT_COMMA_OR_END: &str = "expected `,` or `}`";
const EXPECTED_IDENT: &str = "expected ident";
const EXPECTED_VALUE: &str = "expected value";
const INVALID_ESCAPE: &str = "invalid escape";
const INVALID_NUMBER: &str = "invalid number";
const NUMBER_OUT_OF_RANGE: &str = "number out of range";
const INVALID_CODE_POINT: &str = "invalid unicode code point";
const CONTROL_CHARACTER: &str = "control character (\\u0000-\\u001F) found while parsing a string";
const KEY_MUST_BE_A_STRING: &str = "key must be a string";
const LONE_SURROGATE: &str = "lone leading surrogate in hex escape";
const TRAILING_COMMA: &str = "trailing comma";
const TRAILING_CHARACTERS: &str = "trailing characters";
const UNEXPECTED_END_OF_HEX_ESCAPE: &str = "unexpected end of hex escape";
const RECURSION_LIMIT: &str = "recursion limit exceeded";

/// A syntax error: what, and where (the byte index whose line and column are reported, less
/// `back` columns).
struct Syntax {
    message: &'static str,
    at: usize,
    back: usize,
}

type Step<T> = Result<T, Syntax>;

struct Parser<'b> {
    bytes: &'b [u8],
    /// The next byte to read.
    at: usize,
    /// How many more arrays and objects may open (serde_json's recursion limit).
    depth: u8,
    /// The earliest repeated key so far: where serde_json would have stopped, its path, the key.
    duplicate: Option<(usize, String, String)>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn peek_or_null(&self) -> u8 {
        self.peek().unwrap_or(0)
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    /// An error about the byte just read.
    #[inline(never)]
    fn error(&self, message: &'static str) -> Syntax {
        Syntax {
            message,
            at: self.at,
            back: 0,
        }
    }

    /// An error about the byte about to be read.
    #[inline(never)]
    fn peek_error(&self, message: &'static str) -> Syntax {
        Syntax {
            message,
            at: (self.at + 1).min(self.bytes.len()),
            back: 0,
        }
    }

    /// ` at line L column C`, as serde_json places a byte index.
    fn position(&self, at: usize, back: usize) -> String {
        let before = self.bytes.get(..at).unwrap_or(self.bytes);
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = (at - line_start).saturating_sub(back);
        format!(" at line {line} column {column}")
    }

    /// Skips whitespace; the next byte.
    fn whitespace(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
        self.peek()
    }

    fn value(&mut self, at: &Path<'_>) -> Step<Json> {
        let Some(peek) = self.whitespace() else {
            return Err(self.peek_error(EOF_VALUE));
        };
        match peek {
            b'n' => self.ident(b"null", Json::Null),
            b't' => self.ident(b"true", Json::Bool(true)),
            b'f' => self.ident(b"false", Json::Bool(false)),
            b'-' => {
                self.at += 1;
                self.number(false).map(Json::Number)
            }
            b'0'..=b'9' => self.number(true).map(Json::Number),
            b'"' => {
                self.at += 1;
                self.string().map(Json::String)
            }
            b'[' | b'{' => {
                self.depth -= 1;
                if self.depth == 0 {
                    return Err(self.peek_error(RECURSION_LIMIT));
                }
                self.at += 1;
                let value = if peek == b'[' {
                    self.array(at).map(Json::Array)
                } else {
                    let mut members = Vec::new();
                    let read = self.members(&mut members, at);
                    self.note_duplicate(&mut members, at);
                    read.map(|()| Json::Object(members))
                };
                self.depth += 1;
                value
            }
            _ => Err(self.peek_error(EXPECTED_VALUE)),
        }
    }

    /// `null`, `true` or `false`, its first byte peeked.
    fn ident(&mut self, ident: &[u8], value: Json) -> Step<Json> {
        self.at += 1;
        for expected in ident.iter().skip(1) {
            match self.next() {
                None => return Err(self.error(EOF_VALUE)),
                Some(b) if b != *expected => return Err(self.error(EXPECTED_IDENT)),
                Some(_) => {}
            }
        }
        Ok(value)
    }

    fn array(&mut self, at: &Path<'_>) -> Step<Vec<Json>> {
        let mut items = Vec::new();
        loop {
            match self.whitespace() {
                None => return Err(self.peek_error(EOF_LIST)),
                Some(b']') => {
                    self.at += 1;
                    return Ok(items);
                }
                Some(_) if items.is_empty() => {}
                Some(b',') => {
                    self.at += 1;
                    match self.whitespace() {
                        Some(b']') => return Err(self.peek_error(TRAILING_COMMA)),
                        Some(_) => {}
                        None => return Err(self.peek_error(EOF_VALUE)),
                    }
                }
                Some(_) => return Err(self.peek_error(EXPECTED_LIST_COMMA_OR_END)),
            }
            let item = self.value(&Path::Index(at, items.len()))?;
            items.push(item);
        }
    }

    /// The members of an object, its `{` read, into `members` in document order: even when it
    /// stops at an error, `members` holds every key read so far, for `note_duplicate`.
    fn members(&mut self, members: &mut Vec<Member>, at: &Path<'_>) -> Step<()> {
        loop {
            match self.whitespace() {
                None => return Err(self.peek_error(EOF_OBJECT)),
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(b'"') if members.is_empty() => {}
                Some(_) if members.is_empty() => return Err(self.peek_error(KEY_MUST_BE_A_STRING)),
                Some(b',') => {
                    self.at += 1;
                    match self.whitespace() {
                        Some(b'"') => {}
                        Some(b'}') => return Err(self.peek_error(TRAILING_COMMA)),
                        Some(_) => return Err(self.peek_error(KEY_MUST_BE_A_STRING)),
                        None => return Err(self.peek_error(EOF_VALUE)),
                    }
                }
                Some(_) => return Err(self.peek_error(EXPECTED_OBJECT_COMMA_OR_END)),
            }
            self.at += 1;
            let key = self.string()?;
            let end = self.at;
            let value = match self.whitespace() {
                Some(b':') => {
                    self.at += 1;
                    self.value(&Path::Key(at, &key))
                }
                Some(_) => Err(self.peek_error(EXPECTED_COLON)),
                None => Err(self.peek_error(EOF_OBJECT)),
            };
            let (value, failed) = match value {
                Ok(value) => (value, None),
                Err(e) => (Json::Null, Some(e)),
            };
            members.push(Member { key, value, end });
            if let Some(e) = failed {
                return Err(e);
            }
        }
    }

    /// Sorts `members` by key and remembers the earliest repeated one, if it comes before any
    /// found so far. serde_json places it after the key and the whitespace that follows.
    fn note_duplicate(&mut self, members: &mut [Member], at: &Path<'_>) {
        members.sort_unstable_by(|a, b| a.key.cmp(&b.key).then(a.end.cmp(&b.end)));
        let repeated = members
            .windows(2)
            .filter_map(|pair| match pair {
                [a, b] if a.key == b.key => Some(b),
                _ => None,
            })
            .min_by_key(|m| m.end);
        if let Some(m) = repeated
            && self.duplicate.as_ref().is_none_or(|(end, ..)| m.end < *end)
        {
            let blank = self
                .bytes
                .get(m.end..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\n' | b'\t' | b'\r'))
                .count();
            // serde_json then reads a `}` that follows (as the end of the object) before it
            // places the error.
            let end = m.end + blank;
            let end = end + usize::from(self.bytes.get(end) == Some(&b'}'));
            let path = Path::Key(at, &m.key).render();
            self.duplicate = Some((end, path, m.key.clone()));
        }
    }

    /// A string, its opening quote read.
    fn string(&mut self) -> Step<String> {
        let mut out = Vec::new();
        let mut start = self.at;
        loop {
            // One pass over the slice (no bounds check per byte): long strings are common in
            // compared answers.
            let rest = self.bytes.get(self.at..).unwrap_or_default();
            let plain = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(rest.len());
            self.at += plain;
            let run = self.bytes.get(start..self.at).unwrap_or_default();
            match self.next() {
                Some(b'"') => {
                    out.extend_from_slice(run);
                    return String::from_utf8(out).map_err(|e| Syntax {
                        message: INVALID_CODE_POINT,
                        at: self.at,
                        back: e.as_bytes().len() - e.utf8_error().valid_up_to(),
                    });
                }
                Some(b'\\') => {
                    out.extend_from_slice(run);
                    self.escape(&mut out)?;
                    start = self.at;
                }
                Some(_) => return Err(self.error(CONTROL_CHARACTER)),
                None => return Err(self.error(EOF_STRING)),
            }
        }
    }

    /// An escape, its backslash read.
    fn escape(&mut self, out: &mut Vec<u8>) -> Step<()> {
        let c = match self.next() {
            None => return Err(self.error(EOF_STRING)),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\x08',
            Some(b'f') => '\x0c',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let n = self.hex()?;
                let n = match n {
                    0xDC00..=0xDFFF => return Err(self.error(LONE_SURROGATE)),
                    0xD800..=0xDBFF => {
                        // A leading surrogate: its trailing one must follow as `\uXXXX`.
                        for expected in [b'\\', b'u'] {
                            match self.next() {
                                Some(b) if b == expected => {}
                                Some(_) => return Err(self.error(UNEXPECTED_END_OF_HEX_ESCAPE)),
                                None => return Err(self.error(EOF_STRING)),
                            }
                        }
                        let low = self.hex()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error(LONE_SURROGATE));
                        }
                        0x10000 + (((u32::from(n) - 0xD800) << 10) | (u32::from(low) - 0xDC00))
                    }
                    n => u32::from(n),
                };
                char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            Some(_) => return Err(self.error(INVALID_ESCAPE)),
        };
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    /// The four hex digits of a `\u` escape.
    fn hex(&mut self) -> Step<u16> {
        let Some(digits) = self.bytes.get(self.at..self.at + 4) else {
            self.at = self.bytes.len();
            return Err(self.error(EOF_STRING));
        };
        self.at += 4;
        digits
            .iter()
            .try_fold(0, |n, &d| Some(n << 4 | char::from(d).to_digit(16)? as u16))
            .ok_or_else(|| self.error(INVALID_ESCAPE))
    }

    /// A number, its sign read: its syntax and its errors as serde_json reads them, its value
    /// from std's correctly rounded parser (as serde_json's `float_roundtrip` reads it).
    fn number(&mut self, positive: bool) -> Step<Number> {
        let start = self.at;
        let mut significand = match self.next() {
            None => return Err(self.error(EOF_VALUE)),
            Some(b'0') if self.peek_or_null().is_ascii_digit() => {
                return Err(self.peek_error(INVALID_NUMBER));
            }
            Some(c @ b'0'..=b'9') => Some(u64::from(c - b'0')),
            Some(_) => return Err(self.error(INVALID_NUMBER)),
        };
        while let c @ b'0'..=b'9' = self.peek_or_null() {
            // Too long for a u64: a float.
            significand = significand
                .and_then(|s| s.checked_mul(10))
                .and_then(|s| s.checked_add(u64::from(c - b'0')));
            self.at += 1;
        }
        match (significand, self.peek_or_null()) {
            (None, _) | (Some(_), b'.' | b'e' | b'E') => {
                self.float(start, positive).map(Number::Float)
            }
            (Some(n), _) if positive => Ok(Number::PosInt(n)),
            (Some(n), _) => Ok(match (n as i64).wrapping_neg() {
                // `-0`, and below i64::MIN, are floats.
                i if i >= 0 => Number::Float(-(n as f64)),
                i => Number::NegInt(i),
            }),
        }
    }

    /// A float whose digits start at `start` and whose integer digits are read: the fraction
    /// digits and the exponent, then the value.
    fn float(&mut self, start: usize, positive: bool) -> Step<f64> {
        let mut nonzero = self
            .bytes
            .get(start..self.at)
            .is_some_and(|digits| digits.iter().any(|&d| d != b'0'));
        if self.peek() == Some(b'.') {
            self.at += 1;
            let mut digits = 0;
            while let c @ b'0'..=b'9' = self.peek_or_null() {
                self.at += 1;
                digits += 1;
                nonzero |= c != b'0';
            }
            if digits == 0 {
                return Err(match self.peek() {
                    Some(_) => self.peek_error(INVALID_NUMBER),
                    None => self.peek_error(EOF_VALUE),
                });
            }
        }
        if let b'e' | b'E' = self.peek_or_null() {
            self.at += 1;
            let positive_exp = match self.peek_or_null() {
                b'+' => {
                    self.at += 1;
                    true
                }
                b'-' => {
                    self.at += 1;
                    false
                }
                _ => true,
            };
            let mut exp: i32 = match self.next() {
                None => return Err(self.error(EOF_VALUE)),
                Some(c @ b'0'..=b'9') => i32::from(c - b'0'),
                Some(_) => return Err(self.error(INVALID_NUMBER)),
            };
            while let c @ b'0'..=b'9' = self.peek_or_null() {
                self.at += 1;
                match exp
                    .checked_mul(10)
                    .and_then(|e| e.checked_add(i32::from(c - b'0')))
                {
                    Some(e) => exp = e,
                    // An exponent too long for an i32 is out of range where serde_json finds
                    // it, unless the number is zero.
                    None if nonzero && positive_exp => {
                        return Err(self.error(NUMBER_OUT_OF_RANGE));
                    }
                    None => {}
                }
            }
        }
        let value = self
            .bytes
            .get(start..self.at)
            .and_then(|text| std::str::from_utf8(text).ok()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        if value.is_infinite() {
            return Err(self.error(NUMBER_OUT_OF_RANGE));
        }
        Ok(if positive { value } else { -value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};
    use std::cell::Cell;

    fn by_serde(bytes: &[u8]) -> std::result::Result<Value, (String, String)> {
        let duplicate = Cell::new(None);
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let document = Document {
            at: &Path::Root,
            duplicate: &duplicate,
        }
        .deserialize(&mut json)
        .and_then(|document| json.end().map(|()| document));
        document.map_err(|e| match duplicate.take() {
            Some(path) => (path, format!("{e}")),
            None => ("$".into(), format!("invalid JSON: {e}")),
        })
    }

    struct Document<'a> {
        at: &'a Path<'a>,
        duplicate: &'a Cell<Option<String>>,
    }

    impl<'de> DeserializeSeed<'de> for Document<'_> {
        type Value = Value;

        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> std::result::Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Document<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_unit<E>(self) -> std::result::Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
            Ok(Value::Bool(b))
        }

        fn visit_u64<E>(self, n: u64) -> std::result::Result<Value, E> {
            Ok(Value::from(n))
        }

        fn visit_i64<E>(self, n: i64) -> std::result::Result<Value, E> {
            Ok(Value::from(n))
        }

        fn visit_f64<E>(self, n: f64) -> std::result::Result<Value, E> {
            Ok(Value::from(n))
        }

        fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
            Ok(Value::String(s.into()))
        }

        fn visit_seq<A: SeqAccess<'de>>(
            self,
            mut items: A,
        ) -> std::result::Result<Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = items.next_element_seed(Document {
                at: &Path::Index(self.at, out.len()),
                duplicate: self.duplicate,
            })? {
                out.push(item);
            }
            Ok(Value::Array(out))
        }

        fn visit_map<A: MapAccess<'de>>(
            self,
            mut members: A,
        ) -> std::result::Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = members.next_key::<String>()? {
                let at = Path::Key(self.at, &key);
                if out.contains_key(&key) {
                    self.duplicate.set(Some(at.render()));
                    return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                }
                let value = members.next_value_seed(Document {
                    at: &at,
                    duplicate: self.duplicate,
                })?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
    }

    /// Whether `ours` holds what serde_json read: floats too, bit for bit, since both round
    /// correctly (serde_json's test build has `float_roundtrip`, turned on by a dev-dependency).
    fn same(ours: &Json, theirs: &Value) -> bool {
        match (ours, theirs) {
            (Json::Null, Value::Null) => true,
            (Json::Bool(a), Value::Bool(b)) => a == b,
            (Json::String(a), Value::String(b)) => a == b,
            (Json::Number(Number::PosInt(a)), Value::Number(b)) => b.as_u64() == Some(*a),
            (Json::Number(Number::NegInt(a)), Value::Number(b)) => {
                b.is_i64() && b.as_i64() == Some(*a)
            }
            (Json::Number(Number::Float(a)), Value::Number(b)) => {
                b.is_f64() && b.as_f64().is_some_and(|b| a.to_bits() == b.to_bits())
            }
            (Json::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
            }
            (Json::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(m, (k, v))| &m.key == k && same(&m.value, v))
            }
            _ => false,
        }
    }

    fn check(bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        match (parse(bytes), by_serde(bytes)) {
            (Ok(ours), Ok(theirs)) => assert!(same(&ours, &theirs), "{text}: read differently"),
            (Err(ours), Err(theirs)) => assert_eq!(ours, theirs, "{text}"),
            (Ok(_), Err(theirs)) => panic!("{text}: accepted, serde_json says {theirs:?}"),
            (Err(ours), Ok(_)) => panic!("{text}: refused ({ours:?}), serde_json accepts it"),
        }
    }

    const SAMPLES: &[&str] = &[
        "{}",
        " [ ] ",
        "null",
        "true",
        "fals",
        "nul",
        "tru e",
        "-",
        "-0",
        "-0.0",
        "0",
        "01",
        "1.",
        "1.e5",
        "1e",
        "1e+",
        "1E-5",
        ".5",
        "1.5e308",
        "1e309",
        "-1e309",
        "1e-400",
        "0e999999999999",
        "1e999999999999",
        "1e-999999999999",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "1234567890123456789012345678.9e-3",
        "0.000000000000000000000000000000000000000001",
        "3.141592653589793238462643383279",
        "4.0728551739243185e-66",
        "[1,2,]",
        "[1 2]",
        "[,1]",
        "[1,",
        "[",
        "{\"a\"}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{\"a\":1 \"b\":2}",
        "{1:2}",
        "{,}",
        "{\"a\":1,",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"a\"}",
        "{\"a\":1,\"a\" }",
        "{\"a\":1,\"a\"  :2}",
        "{\"a\":1,\"a\"\n,",
        "{\"a\":1,\"a\"",
        "{\"a\":1,\"a\":{",
        "{\"a\":{\"b\":1,\"b\":2},\"a\":1}",
        "{\"a\":1,\"a\":{\"b\":1,\"b\":2}}",
        "{\"x\":[{\"k\":1},{\"k\":1,\"j\":2,\"k\":3}]}",
        "{\"a\":1,\"b\":2,\"a\":3,\"b\":4}",
        "{\"b\":1,\"a\":2,\"b\":3,\"a\":4}",
        "{\"a\":1,\"a\":2, oops",
        "{\"\":1,\"\":2}",
        "{\"a.b[0]\":1,\"a.b[0]\":2}",
        "\"\\u00e9\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\ud83dx\"",
        "\"\\ud83d\\x\"",
        "\"\\ud83d\\u0041\"",
        "\"\\ude00\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"\\q\"",
        "\"\\",
        "\"abc",
        "\"a\tb\"",
        "\"a\\/b\\\"\\b\\f\\n\\r\\t\"",
        "[1] x",
        "[1]\n\n  x",
        "\n\n{\"routes\": [\n  {\"name\": \"a\",\n   \"name\": \"b\"}]}",
        "{\"a\": tru}",
        "{\"a\": nulll}",
        "{\"a\": -x}",
        "{\"a\": 1.5.5}",
        "x",
        "",
        "   ",
    ];

    #[test]
    fn reads_like_serde_json() {
        for sample in SAMPLES {
            check(sample.as_bytes());
        }
        // Bytes serde_json sees as invalid UTF-8 or control characters, in and out of strings.
        for bytes in [
            &b"\"\xff\""[..],
            b"\"a\xc3\"",
            b"\"ab\\n\xe2\x82\"",
            b"[\"\x01\"]",
            b"\xef\xbb\xbf{}",
            b"{\"a\xff\":1}",
        ] {
            check(bytes);
        }
        // Nesting up to serde_json's limit and beyond.
        for depth in [126, 127, 128, 129] {
            check(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).as_bytes());
            check(format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).as_bytes());
        }
    }

    /// Every example configuration, and many small mutations of each: inserted, deleted and
    /// repeated bytes (a deterministic generator, so that a failure is reproducible).
    #[test]
    fn reads_mutated_documents_like_serde_json() {
        let mut seeds: Vec<Vec<u8>> = SAMPLES.iter().map(|s| s.as_bytes().to_vec()).collect();
        for entry in std::fs::read_dir("examples/configs").unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                seeds.push(std::fs::read(path).unwrap());
            }
        }
        let alphabet = b"{}[]\",:\\ u0123456789eE.-+ntrf\n\t\x01\xc3\xa9\xff/bxdD8";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n.max(1) as u64) as usize
        };
        for seed in &seeds {
            check(seed);
            for _ in 0..300 {
                let mut bytes = seed.clone();
                for _ in 0..1 + random(3) {
                    let at = random(bytes.len() + 1);
                    match random(4) {
                        0 if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        1 => bytes.insert(at, alphabet[random(alphabet.len())]),
                        2 => {
                            let end = (at + random(40)).min(bytes.len());
                            let copy = bytes[at..end].to_vec();
                            let to = random(bytes.len() + 1);
                            bytes.splice(to..to, copy);
                        }
                        _ => bytes.truncate(at),
                    }
                }
                check(&bytes);
            }
        }
    }
}
