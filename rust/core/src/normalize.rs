//! Normalisation: one canonical form per value, used by loader and plugin.
//!
//! MISP stores values as analysts typed them (within MISP's own rules) and
//! logs carry them as Windows wrote them: Sysmon upper-cases hashes, DNS
//! names may end in a dot, IPv6 comes in many spellings. Both sides call
//! [`normalize`] so that the same indicator always gives the same key.
//! Every rule is idempotent (`normalize(normalize(x)) == normalize(x)`,
//! checked by property tests) and documented in `docs/indicators.md`.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

use crate::error::NormalizeError;
use crate::namespace::{Namespace, ValueKind};

/// Values longer than this are refused: MISP caps attribute values at
/// 131,071 bytes, and nothing longer can be an indicator.
pub const MAX_VALUE_BYTES: usize = 131_071;

/// A value in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normalized<'a> {
    /// An exact value, borrowed when the input was already canonical.
    Exact(Cow<'a, str>),
    /// An IP range (CIDR other than /32 or /128), host bits cleared. Ranges
    /// cannot be exact keys; the loader writes them to the range index.
    Range(IpNet),
}

impl Normalized<'_> {
    /// The exact value, if this is not a range.
    pub fn as_exact(&self) -> Option<&str> {
        match self {
            Normalized::Exact(v) => Some(v),
            Normalized::Range(_) => None,
        }
    }
}

/// Brings `raw` into the canonical form of namespace `ns`.
///
/// ```
/// use misp_enrich_core::{normalize, Namespace, Normalized};
/// let sysmon = "7D0ECB1F4A4C7F2C5BE0A3E0AC3B8E2F8B8B6E5E6B5A2D3C1F0E9D8C7B6A5F4E";
/// let n = normalize(Namespace::Sha256, sysmon).unwrap();
/// assert_eq!(n.as_exact(), Some(sysmon.to_ascii_lowercase().as_str()));
/// assert_eq!(normalize(Namespace::Ip, "::ffff:10.0.0.1").unwrap().as_exact(), Some("10.0.0.1"));
/// ```
pub fn normalize(ns: Namespace, raw: &str) -> Result<Normalized<'_>, NormalizeError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(NormalizeError::Empty);
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(NormalizeError::TooLong(value.len()));
    }
    let exact = match ns.kind() {
        ValueKind::HexDigest(digits) => hex_digest(value, digits, ns)?,
        ValueKind::LowerCaseHash => lower_token(value, ns)?,
        ValueKind::CaseSensitiveHash => token(value, ns)?,
        ValueKind::Ip => return ip(value),
        ValueKind::Domain => domain(value)?,
        ValueKind::Url => url(value)?,
        ValueKind::Email => email(value)?,
        ValueKind::RegistryKey => registry_key(value)?,
        ValueKind::NamedPipe => named_pipe(value)?,
        ValueKind::Verbatim => Cow::Borrowed(value),
    };
    Ok(Normalized::Exact(exact))
}

/// ASCII lower-case, borrowing when there is nothing to change.
fn lower(value: &str) -> Cow<'_, str> {
    if value.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(value.to_ascii_lowercase())
    } else {
        Cow::Borrowed(value)
    }
}

/// Hex digests: exactly `digits` hex digits, lower-case.
fn hex_digest(value: &str, digits: usize, ns: Namespace) -> Result<Cow<'_, str>, NormalizeError> {
    if value.len() != digits || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NormalizeError::invalid(
            value,
            format!("a {digits}-digit hex {}", ns.name()),
        ));
    }
    Ok(lower(value))
}

/// A single printable token (no whitespace inside), as written.
fn token(value: &str, ns: Namespace) -> Result<Cow<'_, str>, NormalizeError> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(NormalizeError::invalid(
            value,
            format!("a {} without spaces", ns.name()),
        ));
    }
    Ok(Cow::Borrowed(value))
}

fn lower_token(value: &str, ns: Namespace) -> Result<Cow<'_, str>, NormalizeError> {
    token(value, ns).map(|_| lower(value))
}

/// IP addresses: canonical text form (IPv6 compressed, lower-case), IPv4-mapped
/// IPv6 as plain IPv4, brackets and zone ids dropped, `/32` and `/128`
/// stripped; any other prefix length makes a [`Normalized::Range`].
fn ip(value: &str) -> Result<Normalized<'_>, NormalizeError> {
    let invalid = || NormalizeError::invalid(value, "an IP address or CIDR range");
    let (addr_text, prefix) = match value.split_once('/') {
        Some((a, p)) => {
            let p: u8 = p.parse().map_err(|_| invalid())?;
            (a, Some(p))
        }
        None => (value, None),
    };
    let addr_text = addr_text
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr_text);
    let addr_text = addr_text.split_once('%').map_or(addr_text, |(a, _zone)| a);
    let addr: IpAddr = addr_text.parse().map_err(|_| invalid())?;
    let (addr, prefix) = unmap_ipv4(addr, prefix).ok_or_else(invalid)?;
    let full = if addr.is_ipv4() { 32 } else { 128 };
    match prefix {
        Some(p) if p < full => {
            let net = IpNet::new(addr, p).map_err(|_| invalid())?;
            Ok(Normalized::Range(net.trunc()))
        }
        Some(p) if p > full => Err(invalid()),
        _ => {
            let text = addr.to_string();
            Ok(Normalized::Exact(if text == value {
                Cow::Borrowed(value)
            } else {
                Cow::Owned(text)
            }))
        }
    }
}

/// `::ffff:a.b.c.d` (and a prefix of 96 or more on it) as IPv4.
fn unmap_ipv4(addr: IpAddr, prefix: Option<u8>) -> Option<(IpAddr, Option<u8>)> {
    match addr {
        IpAddr::V6(v6) => match (v6.to_ipv4_mapped(), prefix) {
            (Some(v4), None) => Some((IpAddr::V4(v4), None)),
            (Some(v4), Some(p)) if p >= 96 => Some((IpAddr::V4(v4), Some(p - 96))),
            _ => Some((IpAddr::V6(Ipv6Addr::from(v6.octets())), prefix)),
        },
        IpAddr::V4(_) => Some((addr, prefix)),
    }
}

/// Domains: lower-case, outer dots removed, internationalised names in
/// punycode (IDNA/UTS 46), labels of 1 to 63 bytes, at most 253 bytes.
fn domain(value: &str) -> Result<Cow<'_, str>, NormalizeError> {
    let trimmed = value.trim_matches('.');
    let plain = trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    let name = if plain {
        lower(trimmed)
    } else {
        let ascii = idna::domain_to_ascii(trimmed)
            .map_err(|_| NormalizeError::invalid(value, "a domain name"))?;
        Cow::Owned(ascii.trim_matches('.').to_owned())
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| !l.is_empty() && l.len() <= 63)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid {
        return Err(NormalizeError::invalid(value, "a domain name"));
    }
    Ok(name)
}

/// URLs: the fragment (`#...`) is dropped (clients never send it); scheme and
/// host are lower-cased; the default port of http (80) and https (443) is
/// dropped; a path of just `/` is dropped. Path and query are kept exactly,
/// because servers treat them case-sensitively. A value without `scheme://`
/// is treated as `host/path` (MISP allows both forms).
fn url(value: &str) -> Result<Cow<'_, str>, NormalizeError> {
    if value.chars().any(|c| c.is_control()) {
        return Err(NormalizeError::invalid(
            value,
            "a URL without control characters",
        ));
    }
    let no_fragment = value.split_once('#').map_or(value, |(u, _)| u).trim_end();
    let (scheme, rest) = match no_fragment.split_once("://") {
        Some((s, r)) if is_scheme(s) => (Some(s), r),
        _ => (None, no_fragment),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let tail = if tail == "/" { "" } else { tail };
    let scheme_lower = scheme.map(str::to_ascii_lowercase);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let hostport = lower(hostport);
    let default_port = match scheme_lower.as_deref() {
        Some("http") => Some(":80"),
        Some("https") => Some(":443"),
        _ => None,
    };
    // Strip the default port only from a plain `host:port` (or `[v6]:port`),
    // so that stripping can never expose another port and stays idempotent.
    let hostport = match default_port.and_then(|p| hostport.strip_suffix(p)) {
        Some(host) if !host.contains(':') || host.ends_with(']') => host,
        _ => &hostport,
    };
    let mut out = String::with_capacity(no_fragment.len());
    if let Some(s) = &scheme_lower {
        out.push_str(s);
        out.push_str("://");
    }
    if let Some(u) = userinfo {
        out.push_str(u);
        out.push('@');
    }
    out.push_str(hostport);
    out.push_str(tail);
    if out.is_empty() {
        return Err(NormalizeError::invalid(value, "a URL"));
    }
    Ok(if out == value {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(out)
    })
}

fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
}

/// E-mail addresses: lower-case, one `@`, no whitespace.
fn email(value: &str) -> Result<Cow<'_, str>, NormalizeError> {
    let ok = value.bytes().filter(|b| *b == b'@').count() == 1
        && !value.starts_with('@')
        && !value.ends_with('@')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(NormalizeError::invalid(value, "an e-mail address"));
    }
    Ok(if value.is_ascii() {
        lower(value)
    } else {
        Cow::Owned(value.to_lowercase())
    })
}

/// Registry hives as Sysmon writes them, keyed by their long forms.
const HIVES: &[(&str, &str)] = &[
    ("hkey_local_machine", "hklm"),
    ("hkey_current_user", "hkcu"),
    ("hkey_classes_root", "hkcr"),
    ("hkey_users", "hku"),
    ("hkey_current_config", "hkcc"),
    ("\\registry\\machine", "hklm"),
    ("\\registry\\user", "hku"),
];

/// Registry keys: lower-case (Windows compares them case-insensitively), the
/// hive in the short form Sysmon writes (`HKEY_LOCAL_MACHINE` → `hklm`), no
/// trailing backslash.
fn registry_key(value: &str) -> Result<Cow<'_, str>, NormalizeError> {
    let lowered = value.to_lowercase();
    // Whitespace that dropping the `\` exposes goes too, as it would have
    // on the outside: normalising the result again changes nothing.
    let mut key = lowered.trim_end_matches(|c: char| c == '\\' || c.is_whitespace());
    let mut out = None;
    for (long, short) in HIVES {
        if let Some(rest) = key.strip_prefix(long) {
            if rest.is_empty() || rest.starts_with('\\') {
                out = Some(format!("{short}{rest}"));
                break;
            }
        }
    }
    if let Some(o) = &out {
        key = o;
    }
    if key.is_empty() {
        return Err(NormalizeError::invalid(value, "a registry key"));
    }
    Ok(if key == value {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(key.to_owned())
    })
}

/// Named pipes: lower-case (pipe names are case-insensitive), without the
/// `\\.\pipe\` or `\??\pipe\` prefix and without leading backslashes, so
/// Sysmon's `\evilpipe` and MISP's `\\.\pipe\EvilPipe` meet.
fn named_pipe(value: &str) -> Result<Cow<'_, str>, NormalizeError> {
    let lowered = value.to_lowercase();
    let name = ["\\\\.\\pipe\\", "\\??\\pipe\\", "\\device\\namedpipe\\"]
        .iter()
        .find_map(|p| lowered.strip_prefix(p))
        .unwrap_or(&lowered)
        .trim_start_matches(|c: char| c == '\\' || c.is_whitespace());
    if name.is_empty() {
        return Err(NormalizeError::invalid(value, "a pipe name"));
    }
    Ok(if name == value {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Namespace as N;

    fn exact(ns: Namespace, raw: &str) -> Option<String> {
        normalize(ns, raw)
            .ok()
            .and_then(|n| n.as_exact().map(str::to_owned))
    }

    #[test]
    fn hashes_lower_case_and_checked() {
        let up = "C0FFEE".repeat(10) + "ABCD";
        assert_eq!(exact(N::Sha256, &up), Some(up.to_lowercase()));
        assert_eq!(
            exact(N::Md5, " D41D8CD98F00B204E9800998ECF8427E\t").as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert!(normalize(N::Md5, "d41d8cd98f00b204e9800998ecf8427").is_err());
        assert!(normalize(N::Sha1, "z".repeat(40).as_str()).is_err());
        assert_eq!(normalize(N::Md5, "   "), Err(NormalizeError::Empty));
    }

    #[test]
    fn ssdeep_keeps_case_tlsh_does_not() {
        let s = "3072:Ab+cD/ef:Gh";
        assert_eq!(exact(N::Ssdeep, s).as_deref(), Some(s));
        assert_eq!(exact(N::Tlsh, "T1ABC").as_deref(), Some("t1abc"));
    }

    #[test]
    fn ips_canonical() {
        assert_eq!(exact(N::Ip, "10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(
            exact(N::Ip, "2001:DB8:0:0:0:0:0:1").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            exact(N::Ip, "::ffff:192.0.2.7").as_deref(),
            Some("192.0.2.7")
        );
        assert_eq!(exact(N::Ip, "192.0.2.7/32").as_deref(), Some("192.0.2.7"));
        assert_eq!(
            exact(N::Ip, "2001:db8::1/128").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            exact(N::Ip, "[2001:db8::1]").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(exact(N::Ip, "fe80::1%12").as_deref(), Some("fe80::1"));
        assert_eq!(
            normalize(N::Ip, "10.1.2.3/16").ok(),
            Some(Normalized::Range(
                "10.1.0.0/16".parse().unwrap_or_else(|_| unreachable!())
            ))
        );
        assert_eq!(
            normalize(N::Ip, "::ffff:10.0.0.0/104").ok(),
            Some(Normalized::Range(
                "10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())
            ))
        );
        for bad in [
            "10.0.0.256",
            "10.0.0.1/33",
            "evil.example",
            "1.2.3.4/x",
            "::1/129",
        ] {
            assert!(normalize(N::Ip, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains_lower_dotless_punycode() {
        assert_eq!(
            exact(N::Domain, "Evil.Example.").as_deref(),
            Some("evil.example")
        );
        assert_eq!(
            exact(N::Domain, "bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            exact(N::Domain, "_ldap._tcp.dc.corp").as_deref(),
            Some("_ldap._tcp.dc.corp")
        );
        for bad in ["a..b", "evil example", ".", "a\r\nflush_all"] {
            assert!(normalize(N::Domain, bad).is_err(), "{bad}");
        }
        assert!(normalize(N::Domain, &format!("{}.example", "a".repeat(64))).is_err());
    }

    #[test]
    fn urls_per_documented_rule() {
        let cases = [
            (
                "HTTP://Evil.Example:80/Path?Q=1#frag",
                "http://evil.example/Path?Q=1",
            ),
            ("https://evil.example:443/", "https://evil.example"),
            ("https://evil.example:8443/a", "https://evil.example:8443/a"),
            ("Evil.Example/Gate.php", "evil.example/Gate.php"),
            (
                "http://User:Pw@Evil.Example/x",
                "http://User:Pw@evil.example/x",
            ),
            ("/gate.php", "/gate.php"),
        ];
        for (raw, want) in cases {
            assert_eq!(exact(N::Url, raw).as_deref(), Some(want), "{raw}");
        }
        assert!(normalize(N::Url, "http://a/\r\nset x").is_err());
    }

    #[test]
    fn windows_artefacts() {
        assert_eq!(
            exact(N::Regkey, "HKEY_LOCAL_MACHINE\\Software\\Run\\").as_deref(),
            Some("hklm\\software\\run")
        );
        assert_eq!(
            exact(N::Regkey, "HKLM\\SOFTWARE\\Run").as_deref(),
            Some("hklm\\software\\run")
        );
        assert_eq!(
            exact(N::Regkey, "\\REGISTRY\\MACHINE\\X").as_deref(),
            Some("hklm\\x")
        );
        assert_eq!(
            exact(N::NamedPipe, "\\\\.\\pipe\\MSSE-1234-server").as_deref(),
            Some("msse-1234-server")
        );
        assert_eq!(
            exact(N::NamedPipe, "\\msse-1234-server").as_deref(),
            Some("msse-1234-server")
        );
        assert_eq!(
            exact(N::Mutex, " Global\\EvilMutex ").as_deref(),
            Some("Global\\EvilMutex")
        );
        assert_eq!(
            exact(N::Email, "Bad@Evil.Example").as_deref(),
            Some("bad@evil.example")
        );
        assert!(normalize(N::Email, "no-at-sign").is_err());
    }

    #[test]
    fn canonical_input_is_borrowed() {
        for (ns, v) in [
            (N::Ip, "10.0.0.1"),
            (N::Domain, "evil.example"),
            (N::Url, "http://e.x/a"),
        ] {
            assert!(
                matches!(normalize(ns, v), Ok(Normalized::Exact(Cow::Borrowed(_)))),
                "{v}"
            );
        }
    }

    #[test]
    fn oversized_values_are_refused() {
        let big = "a".repeat(MAX_VALUE_BYTES + 1);
        assert_eq!(
            normalize(N::UserAgent, &big),
            Err(NormalizeError::TooLong(big.len()))
        );
    }
}
