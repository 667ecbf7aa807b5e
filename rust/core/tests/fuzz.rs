//! Fuzzing (issue 7), with proptest on the stable toolchain: the value codec
//! ([`EntryList::parse`]), the normalisers of every namespace and the key
//! rule, on generated hostile and near-valid input.
//!
//! Run by misp_enrich_core::fuzz_harness: 1,500 cases per property here
//! unless `PROPTEST_CASES` says otherwise (CI runs 20,000 in the debug
//! build, overflow checks on), rows in `target/reliability/fuzz-core-*.tsv`.
#![allow(clippy::unwrap_used)]

use std::str::FromStr;

use misp_enrich_core::fuzz_harness::FuzzSuite;
use misp_enrich_core::{
    is_safe_key, normalize, Entry, EntryList, Keyspace, Namespace, Normalized, ValueKind,
    MAX_KEY_BYTES, MAX_VALUE_BYTES,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const FUZZ: FuzzSuite = FuzzSuite {
    name: "core",
    default_cases: 1_500,
};

/// Hostile text: anything, anything with memcached commands after CR LF,
/// near-values with separators and odd whitespace, raw bytes made text.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        ".{0,80}",
        "[ -~]{0,40}(\r\n|\n|\r|\0|\u{2028}|\u{85})(flush_all|set misp-ip:1.2.3.4 0 0 1|delete x)(\r\n)?[ -~]{0,10}",
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[ \t\u{a0}\u{3000}]{0,3}[0-9#,a-zA-Z|\\- ]{0,60}[ \t\u{a0}]{0,3}",
    ]
}

// ---- the value codec ------------------------------------------------------

fn entry_parts() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[0-9]{1,21}#[a-z][a-z0-9|\\- ]{0,70}",
        "[ \t]{0,2}[0-9]{0,3}[ \t]{0,2}#?[ -~]{0,10}",
        "[0-9０-９]{1,3}#[a-zé\u{0}\r\n]{1,5}",
        hostile(),
    ];
    prop::collection::vec(part, 0..12).prop_map(|parts| parts.join(","))
}

#[test]
fn codec() {
    FUZZ.run(
        "codec",
        "value codec: EntryList::parse (core)",
        "no panic; every entry kept is valid (Entry::new accepts it again); writing and re-parsing gives the same entries with nothing malformed; parsing is idempotent; the written form has no CR, LF, NUL or empty part",
        entry_parts(),
        |s| {
            let parsed = EntryList::parse(&s);
            for e in parsed.entries.entries() {
                let again = Entry::new(e.event_id(), e.misp_type());
                prop_assert_eq!(again.as_ref(), Ok(e));
            }
            let written = parsed.entries.to_string();
            prop_assert!(!written.contains(['\r', '\n', '\0']), "{:?}", written);
            prop_assert!(written.is_empty() || !written.split(',').any(str::is_empty));
            let reparsed = EntryList::parse(&written);
            prop_assert_eq!(reparsed.malformed, 0);
            prop_assert_eq!(&reparsed.entries, &parsed.entries);
            let mut merged = parsed.entries.clone();
            prop_assert_eq!(merged.merge(&parsed.entries), 0);
            Ok(())
        },
    );
}

// ---- normalisation, per namespace ------------------------------------------

/// Values shaped for `ns` (and mutated), plus hostile text.
fn value_for(ns: Namespace) -> BoxedStrategy<String> {
    let shaped: BoxedStrategy<String> = match ns.kind() {
        ValueKind::HexDigest(n) => {
            let n = n as u32;
            let re = |r: String| proptest::string::string_regex(&r).unwrap();
            prop_oneof![
                re(format!("[ \t]{{0,2}}[0-9a-fA-F]{{{n}}}[ \t\r\n]{{0,2}}")),
                re(format!("[0-9a-fA-FxXg]{{{},{}}}", n.saturating_sub(2), n + 2)),
            ]
            .boxed()
        }
        ValueKind::Ip => prop_oneof![
            "[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}(/[0-9]{1,3})?",
            "\\[?(::ffff:)?[0-9a-fA-F:.]{2,45}(%[a-z0-9]{1,4})?\\]?(/[0-9]{1,3})?",
            any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
            any::<[u16; 8]>().prop_map(|s| std::net::Ipv6Addr::from(s).to_string().to_uppercase()),
        ]
        .boxed(),
        ValueKind::Domain => prop_oneof![
            "[a-zA-Z0-9_\\-]{0,64}(\\.[a-zA-Z0-9_\\-]{0,64}){0,5}\\.?",
            "[a-zà-ÿа-я0-9\\-]{1,20}\\.(example|рф|co\\.uk|github\\.io)\\.?",
            "xn--[a-z0-9\\-]{1,20}\\.example",
        ]
        .boxed(),
        ValueKind::Url => prop_oneof![
            "(HTTP|http|https|hxxp|ftp|[a-z]{1,5})://([a-zA-Z0-9:]{1,8}@)?[a-zA-Z0-9.\\-]{1,30}(:[0-9]{1,5})?(/[ -~]{0,40})?(#[ -~]{0,5})?",
            "[a-zA-Z0-9.]{1,20}(/[ -~]{0,30})?",
            "\\[[0-9a-f:]{2,20}\\](:(80|443|8080))?/[a-z]{0,5}",
        ]
        .boxed(),
        ValueKind::Email => "[a-zA-Z0-9.+@ ]{0,20}@?[a-zA-Zß0-9.\\-]{0,20}".boxed(),
        ValueKind::RegistryKey => {
            "(HKEY_LOCAL_MACHINE|HKLM|hkcu|\\\\REGISTRY\\\\MACHINE|\\\\registry\\\\user)?(\\\\[A-Za-z0-9 İı]{0,12}){0,4}\\\\?"
                .boxed()
        }
        ValueKind::NamedPipe => "(\\\\\\\\\\.\\\\pipe\\\\|\\\\\\?\\?\\\\pipe\\\\|\\\\Device\\\\NamedPipe\\\\)?\\\\{0,3}[A-Za-z0-9\\-İ]{0,20}"
            .boxed(),
        ValueKind::CaseSensitiveHash | ValueKind::LowerCaseHash => {
            "[0-9]{1,5}:[A-Za-z0-9+/]{0,40}:[A-Za-z0-9+/ ]{0,20}".boxed()
        }
        ValueKind::Verbatim => "[ -~]{0,60}".boxed(),
    };
    prop_oneof![3 => shaped, 2 => hostile()].boxed()
}

fn check_value(ns: Namespace, raw: &str) -> Result<(), TestCaseError> {
    let ks = Keyspace::default();
    // Keys of raw (unnormalised) values are safe too.
    prop_assert!(is_safe_key(&ks.key(ns, raw)));
    match normalize(ns, raw) {
        Ok(Normalized::Exact(n)) => {
            prop_assert!(!n.is_empty());
            prop_assert!(n.len() <= MAX_VALUE_BYTES * 4, "{} bytes", n.len());
            let twice = normalize(ns, &n);
            prop_assert_eq!(
                twice.as_ref().ok().and_then(|t| t.as_exact()),
                Some(n.as_ref()),
                "{} {:?} -> {:?} -> {:?}",
                ns,
                raw,
                n,
                twice
            );
            let key = ks.key(ns, &n);
            prop_assert!(is_safe_key(&key) && key.len() <= MAX_KEY_BYTES, "{:?}", key);
            // Trimming: surrounding whitespace never changes the key.
            let padded = format!(" \t{raw}\r\n ");
            prop_assert_eq!(
                normalize(ns, &padded)
                    .ok()
                    .and_then(|p| p.as_exact().map(str::to_owned)),
                Some(n.clone().into_owned())
            );
        }
        Ok(Normalized::Range(net)) => {
            prop_assert_eq!(ns, Namespace::Ip);
            let text = net.to_string();
            prop_assert_eq!(normalize(ns, &text).ok(), Some(Normalized::Range(net)));
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(!message.is_empty());
            // Messages quote log data: never a control character, never long.
            prop_assert!(!message.chars().any(char::is_control), "{:?}", message);
            prop_assert!(
                message.chars().count() < 400,
                "{} chars",
                message.chars().count()
            );
        }
    }
    Ok(())
}

/// Namespaces compared case-insensitively: an ASCII value upper-cased (as
/// Sysmon writes hashes) must give the same key as lower-cased (as MISP has it).
fn case_insensitive(ns: Namespace) -> bool {
    matches!(
        ns.kind(),
        ValueKind::HexDigest(_)
            | ValueKind::LowerCaseHash
            | ValueKind::Domain
            | ValueKind::Email
            | ValueKind::RegistryKey
            | ValueKind::NamedPipe
    )
}

#[test]
fn normalise_every_namespace() {
    let per_ns =
        prop::sample::select(Namespace::ALL.to_vec()).prop_flat_map(|ns| (Just(ns), value_for(ns)));
    FUZZ.run(
        "normalise",
        &format!(
            "normalisers of all {} namespaces (core normalize) and the key rule",
            Namespace::ALL.len()
        ),
        "no panic; normalise is idempotent; keys of raw and normalised values are safe (≤ 250 bytes, no space, control or non-ASCII byte); surrounding whitespace changes nothing; ASCII case changes nothing where the namespace ignores case; ranges only for ip and stable; error messages never echo control characters",
        per_ns,
        |(ns, raw)| {
            check_value(ns, &raw)?;
            if case_insensitive(ns) && raw.is_ascii() {
                let up = normalize(ns, &raw.to_ascii_uppercase())
                    .ok()
                    .and_then(|n| n.as_exact().map(str::to_owned));
                let low = normalize(ns, &raw.to_ascii_lowercase())
                    .ok()
                    .and_then(|n| n.as_exact().map(str::to_owned));
                prop_assert_eq!(up, low, "{} {:?}", ns, raw);
            }
            Ok(())
        },
    );
}

#[test]
fn keys_are_injective() {
    FUZZ.run(
        "keys",
        "key rule (Keyspace::key, event_key)",
        "no panic; two different values never share a key in one namespace (verbatim and digest forms cannot collide); event keys are safe",
        (
            prop::sample::select(Namespace::ALL.to_vec()),
            hostile(),
            hostile(),
            "[A-Za-z0-9_.]{1,64}",
        ),
        |(ns, a, b, prefix)| {
            let ks = Keyspace::new(&prefix).unwrap();
            if a != b {
                prop_assert_ne!(ks.key(ns, &a), ks.key(ns, &b));
            }
            let tilde = format!("~sha256:{a}");
            prop_assert_ne!(ks.key(ns, &a), ks.key(ns, &tilde));
            prop_assert!(is_safe_key(&ks.event_key(&a)));
            prop_assert_eq!(Namespace::from_str(ns.name()).ok(), Some(ns));
            Ok(())
        },
    );
}

/// Issue 7 (found by `normalise_every_namespace`): normalisation was not
/// idempotent for a registry key ending in whitespace and `\` (the `\` went,
/// the space it exposed stayed and went only on a second pass) nor for a
/// pipe name after its prefix starting with whitespace. Loader and plugin
/// could then disagree on a value normalised once or twice.
#[test]
fn issue7_regkey_and_pipe_rules_are_idempotent() {
    for (ns, raw, want) in [
        (Namespace::Regkey, "\\ \\", None),
        (
            Namespace::Regkey,
            "HKLM\\Software\\Evil \\",
            Some("hklm\\software\\evil"),
        ),
        (Namespace::Regkey, "HKLM\\Run \\ \\\\", Some("hklm\\run")),
        (
            Namespace::NamedPipe,
            "\\\\.\\pipe\\ EvilPipe",
            Some("evilpipe"),
        ),
        (Namespace::NamedPipe, "\\\\.\\pipe\\ ", None),
    ] {
        let once = normalize(ns, raw)
            .ok()
            .and_then(|n| n.as_exact().map(str::to_owned));
        assert_eq!(once.as_deref(), want, "{ns} {raw:?}");
        if let Some(n) = &once {
            let twice = normalize(ns, n)
                .ok()
                .and_then(|t| t.as_exact().map(str::to_owned));
            assert_eq!(twice.as_ref(), Some(n), "{ns} {raw:?}");
        }
    }
}
