//! IPv4/IPv6 address ranges (`10.0.0.0/8`, `2001:db8::/32`) from configuration,
//! matched against the client address Envoy reports in `source.address`.
//! Parsing is strict (config time); matching never allocates (request time).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 address range parsed from `10.0.0.0/8`, `2001:db8::/32`,
/// or a bare address (a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The first address of the range; host bits are always zero.
    network: IpAddr,
    /// At most 32 for IPv4 and 128 for IPv6.
    prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix` or a bare address. Errors name the problem: a
    /// bad address, a bad or too long prefix, or host bits set (with the
    /// range that was probably meant).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (address_text, prefix_text) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = address_text.parse().map_err(|_| {
            format!(
                "`{s}` is not a valid address range: `{address_text}` is not an IPv4 or IPv6 \
                 address (expected e.g. 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7)"
            )
        })?;
        let max = max_prefix(network);
        let prefix = match prefix_text {
            None => max,
            Some(text) => {
                // `u8::from_str` would accept `+8`; only plain digits are a prefix.
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "`{s}` is not a valid address range: the prefix length after `/` \
                         must be a number from 0 to {max}"
                    ));
                }
                match text.parse::<u8>() {
                    Ok(prefix) if prefix <= max => prefix,
                    // Too many digits for u8 is just a very long prefix.
                    _ => {
                        return Err(format!(
                            "`{s}` is not a valid address range: prefix /{text} is longer \
                             than the {max} bits of an {} address",
                            family(network)
                        ));
                    }
                }
            }
        };
        let cidr = Cidr {
            network: mask(network, prefix),
            prefix,
        };
        if cidr.network != network {
            return Err(format!(
                "`{s}` has host bits set after the first {prefix} bits; \
                 did you mean `{cidr}`?"
            ));
        }
        Ok(cidr)
    }

    /// Whether `ip` lies in this range. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`, what dual-stack listeners report for IPv4 clients)
    /// is matched against IPv4 ranges as `a.b.c.d`; it also still matches IPv6
    /// ranges that cover it. A plain IPv4 address never matches an IPv6 range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.network
            }
            // `to_ipv4_mapped`, not `to_ipv4`: the latter also converts
            // deprecated IPv4-compatible addresses, turning `::1` into 0.0.0.1.
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6
                .to_ipv4_mapped()
                .is_some_and(|v4| mask(IpAddr::V4(v4), self.prefix) == self.network),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }

    /// The first address of the range.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The number of leading bits that are fixed.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }
}

/// Prints the canonical `network/prefix` form, e.g. `2001:db8::/32` (std's RFC 5952 printing).
impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Envoy's `source.address` property: `1.2.3.4:5678`, `[::1]:5678`, or a bare
/// address; None for anything else (e.g. a pipe path). A zone on a bracketed
/// IPv6 address (`[fe80::1%eth0]:80`) is dropped, since ranges cannot name one.
pub fn parse_socket_ip(bytes: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(bytes).ok()?;
    // By hand rather than with `SocketAddr`'s parser, which weighs a kilobyte in the module:
    // std only takes numeric zones and only with a port; accept `[addr]`, `[addr%zone]` and
    // `[addr%zone]:port` too.
    if let Some(bracketed) = text.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']')?;
        if !(after.is_empty()
            || after
                .strip_prefix(':')
                .and_then(|p| p.parse::<u16>().ok())
                .is_some())
        {
            return None;
        }
        let address = inside.split('%').next().unwrap_or(inside);
        return address.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    // `a.b.c.d:port`, the port in plain digits.
    let (address, port) = text.split_once(':')?;
    if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
        return None;
    }
    address.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

/// `ip` with every bit after the first `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            // A shift by the full width is an overflow, not zero: /0 keeps no bits.
            let keep = u32::MAX
                .checked_shl(32_u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX
                .checked_shl(128_u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & keep))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn parses_ipv4_and_ipv6_ranges() {
        let v4 = cidr("10.0.0.0/8");
        assert_eq!((v4.network(), v4.prefix_len()), (ip("10.0.0.0"), 8));
        let v6 = cidr("2001:db8::/32");
        assert_eq!((v6.network(), v6.prefix_len()), (ip("2001:db8::"), 32));
    }

    #[test]
    fn a_bare_address_is_a_single_host_range() {
        assert_eq!(cidr("192.0.2.7").prefix_len(), 32);
        assert_eq!(cidr("2001:db8::7").prefix_len(), 128);
        assert!(cidr("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!cidr("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(cidr("2001:db8::7").contains(ip("2001:db8::7")));
        assert!(!cidr("2001:db8::7").contains(ip("2001:db8::8")));
    }

    #[test]
    fn displays_in_canonical_form() {
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr("2001:0db8:0::/32").to_string(), "2001:db8::/32");
        assert_eq!(cidr("::1").to_string(), "::1/128");
    }

    #[test]
    fn contains_addresses_inside_the_range_only() {
        let r = cidr("10.0.0.0/8");
        assert!(r.contains(ip("10.0.0.0")));
        assert!(r.contains(ip("10.255.255.255")));
        assert!(!r.contains(ip("11.0.0.0")));
        assert!(!r.contains(ip("9.255.255.255")));

        let r = cidr("2001:db8::/32");
        assert!(r.contains(ip("2001:db8::1")));
        assert!(r.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!r.contains(ip("2001:db9::")));
    }

    #[test]
    fn unaligned_prefixes_split_within_a_byte() {
        let r = cidr("192.168.0.0/23");
        assert!(r.contains(ip("192.168.1.255")));
        assert!(!r.contains(ip("192.168.2.0")));
        let r = cidr("2001:db8::/33");
        assert!(r.contains(ip("2001:db8:7fff::")));
        assert!(!r.contains(ip("2001:db8:8000::")));
    }

    #[test]
    fn slash_zero_matches_every_address_of_its_family() {
        assert!(cidr("0.0.0.0/0").contains(ip("255.255.255.255")));
        assert!(cidr("0.0.0.0/0").contains(ip("0.0.0.0")));
        assert!(!cidr("0.0.0.0/0").contains(ip("::1")));
        assert!(cidr("::/0").contains(ip("ffff::1")));
        assert!(!cidr("::/0").contains(ip("10.0.0.1")));
    }

    #[test]
    fn full_length_prefixes_match_exactly_one_address() {
        assert!(cidr("10.1.2.3/32").contains(ip("10.1.2.3")));
        assert!(!cidr("10.1.2.3/32").contains(ip("10.1.2.2")));
        assert!(cidr("::1/128").contains(ip("::1")));
        assert!(!cidr("::1/128").contains(ip("::")));
    }

    #[test]
    fn ipv4_mapped_ipv6_addresses_match_ipv4_ranges() {
        let r = cidr("10.0.0.0/8");
        assert!(r.contains(ip("::ffff:10.1.2.3")));
        assert!(!r.contains(ip("::ffff:11.1.2.3")));
        assert!(cidr("0.0.0.0/0").contains(ip("::ffff:1.2.3.4")));
    }

    #[test]
    fn ipv4_mapped_addresses_still_match_ipv6_ranges_covering_them() {
        assert!(cidr("::ffff:0:0/96").contains(ip("::ffff:10.1.2.3")));
        assert!(cidr("::/0").contains(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn ipv4_compatible_and_other_ipv6_addresses_do_not_match_ipv4_ranges() {
        // `::1` would become 0.0.0.1 under `to_ipv4`; it is loopback, not IPv4.
        assert!(!cidr("0.0.0.0/8").contains(ip("::1")));
        assert!(!cidr("10.0.0.0/8").contains(ip("::10.1.2.3")));
        assert!(!cidr("10.0.0.0/8").contains(ip("64:ff9b::10.1.2.3")));
    }

    #[test]
    fn plain_ipv4_addresses_do_not_match_ipv6_ranges() {
        assert!(!cidr("::ffff:0:0/96").contains(ip("10.1.2.3")));
    }

    #[test]
    fn rejects_host_bits_and_suggests_the_network() {
        let err = Cidr::parse("10.0.0.1/8").unwrap_err();
        assert!(err.contains("host bits"), "{err}");
        assert!(err.contains("`10.0.0.0/8`"), "{err}");
        let err = Cidr::parse("2001:db8::1/32").unwrap_err();
        assert!(err.contains("`2001:db8::/32`"), "{err}");
        let err = Cidr::parse("1.2.3.4/0").unwrap_err();
        assert!(err.contains("`0.0.0.0/0`"), "{err}");
    }

    #[test]
    fn rejects_prefixes_longer_than_the_address() {
        let err = Cidr::parse("10.0.0.0/33").unwrap_err();
        assert!(err.contains("longer than the 32 bits"), "{err}");
        let err = Cidr::parse("::/129").unwrap_err();
        assert!(err.contains("longer than the 128 bits"), "{err}");
        let err = Cidr::parse("::/99999999999999999999").unwrap_err();
        assert!(err.contains("longer than"), "{err}");
    }

    #[test]
    fn rejects_malformed_prefixes() {
        for input in [
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-8",
            "10.0.0.0/ 8",
            "10.0.0.0/8/8",
            "10.0.0.0/x",
        ] {
            let err = Cidr::parse(input).unwrap_err();
            assert!(err.contains("prefix length"), "{input}: {err}");
        }
    }

    #[test]
    fn rejects_bad_addresses() {
        for input in [
            "",
            "/8",
            "10.0.0/8",
            "10.0.0.256/32",
            "010.0.0.0/8",
            "10.0.0.0.0",
            "example.com/8",
            " 10.0.0.0/8",
            "2001:db8:::/32",
            "[::1]/128",
            "fe80::1%eth0/64",
            "10.0.0.0:80",
        ] {
            let err = Cidr::parse(input).unwrap_err();
            assert!(
                err.contains("not an IPv4 or IPv6 address"),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn parses_envoy_source_addresses() {
        assert_eq!(parse_socket_ip(b"1.2.3.4:5678"), Some(ip("1.2.3.4")));
        assert_eq!(parse_socket_ip(b"[::1]:5678"), Some(ip("::1")));
        assert_eq!(
            parse_socket_ip(b"[::ffff:1.2.3.4]:80"),
            Some(ip("::ffff:1.2.3.4"))
        );
        assert_eq!(parse_socket_ip(b"1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_socket_ip(b"2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_socket_ip(b"[2001:db8::1]"), Some(ip("2001:db8::1")));
    }

    #[test]
    fn drops_ipv6_zones() {
        assert_eq!(parse_socket_ip(b"[fe80::1%2]:80"), Some(ip("fe80::1")));
        assert_eq!(parse_socket_ip(b"[fe80::1%eth0]:80"), Some(ip("fe80::1")));
        assert_eq!(parse_socket_ip(b"[fe80::1%eth0]"), Some(ip("fe80::1")));
    }

    #[test]
    fn rejects_anything_that_is_not_a_socket_address() {
        for input in [
            &b""[..],
            b"/var/run/envoy.sock",
            b"@abstract-socket",
            b"1.2.3.4:",
            b"1.2.3.4:99999",
            b"::1:5678x",
            b"[::1]:",
            b"[::1]:x",
            b"[::1]5678",
            b"[1.2.3.4]:80",
            b"[::1",
            b"localhost:80",
            b" 1.2.3.4:80",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_socket_ip(input), None, "{input:?}");
        }
    }

    /// The parser this one replaced, std's `SocketAddr` first.
    fn parse_socket_ip_by_std(bytes: &[u8]) -> Option<IpAddr> {
        let text = std::str::from_utf8(bytes).ok()?;
        if let Ok(socket) = text.parse::<std::net::SocketAddr>() {
            return Some(socket.ip());
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(ip);
        }
        let (inside, after) = text.strip_prefix('[')?.split_once(']')?;
        if !(after.is_empty()
            || after
                .strip_prefix(':')
                .and_then(|p| p.parse::<u16>().ok())
                .is_some())
        {
            return None;
        }
        let address = inside.split('%').next().unwrap_or(inside);
        address.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    }

    #[test]
    fn reads_source_addresses_as_std_does() {
        let hosts = [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "01.2.3.4",
            "::1",
            "::",
            "2001:db8::1",
            "::ffff:1.2.3.4",
            "fe80::1%2",
            "fe80::1%eth0",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "localhost",
            "",
            "x",
        ];
        let ports = [
            "", ":", ":0", ":80", ":0080", ":65535", ":65536", ":+80", ":-1", ":8x", "::80",
            ":080:",
        ];
        for host in hosts {
            for port in ports {
                for text in [
                    format!("{host}{port}"),
                    format!("[{host}]{port}"),
                    format!("[{host}{port}"),
                ] {
                    assert_eq!(
                        parse_socket_ip(text.as_bytes()),
                        parse_socket_ip_by_std(text.as_bytes()),
                        "{text}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_parsed_source_address_matches_ranges() {
        let r = cidr("10.0.0.0/8");
        assert!(r.contains(parse_socket_ip(b"10.9.8.7:1234").unwrap()));
        assert!(r.contains(parse_socket_ip(b"[::ffff:10.9.8.7]:1234").unwrap()));
        assert!(!r.contains(parse_socket_ip(b"[::1]:1234").unwrap()));
    }
}
