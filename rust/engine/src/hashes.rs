//! Sysmon's `Hashes` field: `SHA1=...,MD5=...,SHA256=...,IMPHASH=...`.
//!
//! Sysmon writes the algorithms chosen in its configuration, in its own
//! order, names upper-case; other tools write them lower-case or with spaces.
//! Each `NAME=value` part is looked up in the namespace of its algorithm, and
//! a match is reported with that namespace. Unknown algorithms are ignored.

use misp_enrich_core::Namespace;

/// Most hashes taken from one `Hashes` string. Sysmon writes at most one
/// per algorithm (seven); the cap keeps one hostile field from turning into
/// hundreds of thousands of lookups that would evict the whole cache and
/// could exhaust the batch's time budget for every other event.
pub const MAX_HASHES: usize = 16;

/// The (namespace, raw value) pairs of a `Hashes` string, in order (the
/// first [`MAX_HASHES`]).
pub fn split(hashes: &str) -> impl Iterator<Item = (Namespace, &str)> {
    hashes
        .split(',')
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            let ns = algorithm(name.trim())?;
            let value = value.trim();
            (!value.is_empty()).then_some((ns, value))
        })
        .take(MAX_HASHES)
}

fn algorithm(name: &str) -> Option<Namespace> {
    const NAMES: [(&str, Namespace); 7] = [
        ("md5", Namespace::Md5),
        ("sha1", Namespace::Sha1),
        ("sha224", Namespace::Sha224),
        ("sha256", Namespace::Sha256),
        ("sha384", Namespace::Sha384),
        ("sha512", Namespace::Sha512),
        ("imphash", Namespace::Imphash),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, ns)| *ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sysmon_strings_in_any_order_and_case() {
        let got: Vec<_> = split(
            "SHA1=AA,md5=BB, Sha256 = CC ,IMPHASH=DD,SHA384=EE,SHA512=FF,sha224=11,CRC32=99,junk,=,SHA1=",
        )
        .collect();
        assert_eq!(
            got,
            vec![
                (Namespace::Sha1, "AA"),
                (Namespace::Md5, "BB"),
                (Namespace::Sha256, "CC"),
                (Namespace::Imphash, "DD"),
                (Namespace::Sha384, "EE"),
                (Namespace::Sha512, "FF"),
                (Namespace::Sha224, "11"),
            ]
        );
        assert_eq!(split("").count(), 0);
    }
}
