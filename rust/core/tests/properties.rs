//! Property tests of the rules that loader and plugin share: keys are always
//! safe, normalisation is idempotent, the value codec round-trips.
#![allow(clippy::unwrap_used)]

use misp_enrich_core::{is_safe_key, normalize, Entry, EntryList, Keyspace, Namespace, Normalized};
use proptest::prelude::*;

fn namespace() -> impl Strategy<Value = Namespace> {
    prop::sample::select(Namespace::ALL.to_vec())
}

/// Values that look like indicators, and arbitrary (hostile) strings.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \t\r\n]{0,2}[0-9a-fA-F]{32,128}[ \r\n]{0,2}",
        "[a-zA-Z0-9.\\-_]{1,70}\\.?",
        "(HTTP|http|https|HTTPS)://[A-Za-z0-9.]{1,20}(:80|:443|:8080)?(/[A-Za-z0-9?=&%~/ ]{0,40})?(#.{0,5})?",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,2})?",
        "(::ffff:)?[0-9a-fA-F:]{2,39}(/[0-9]{1,3})?",
        "(HKEY_LOCAL_MACHINE|HKLM|\\\\REGISTRY\\\\MACHINE)\\\\[A-Za-z\\\\]{0,30}",
        "(\\\\\\\\\\.\\\\pipe\\\\)?\\\\?[A-Za-z0-9\\-]{1,20}",
        ".{0,300}",
        prop::collection::vec(any::<u8>(), 0..600).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn every_key_is_safe(ns in namespace(), v in value(), prefix in "[A-Za-z0-9_.]{1,64}") {
        let ks = Keyspace::new(&prefix).unwrap();
        // Keys of raw values (the loader never does this, but nothing may break
        // even if a caller forgets to normalise) and of normalised values.
        prop_assert!(is_safe_key(&ks.key(ns, &v)));
        if let Ok(Normalized::Exact(n)) = normalize(ns, &v) {
            let key = ks.key(ns, &n);
            prop_assert!(key.len() <= 250);
            prop_assert!(!key.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b >= 0x80));
        }
        prop_assert!(is_safe_key(&ks.event_key(&v)));
    }

    #[test]
    fn normalisation_is_idempotent(ns in namespace(), v in value()) {
        if let Ok(once) = normalize(ns, &v) {
            match &once {
                Normalized::Exact(n) => {
                    let twice = normalize(ns, n);
                    prop_assert_eq!(twice.as_ref().ok().and_then(|t| t.as_exact()), Some(n.as_ref()), "{:?}", v);
                }
                Normalized::Range(net) => {
                    let text = net.to_string();
                    let twice = normalize(ns, &text);
                    prop_assert_eq!(twice.ok(), Some(Normalized::Range(*net)));
                }
            }
        }
    }

    #[test]
    fn codec_round_trips(entries in prop::collection::vec(("[0-9]{1,20}", "[a-z][a-z0-9|\\- ]{0,30}[a-z0-9]"), 0..20)) {
        let list: EntryList = entries.iter().filter_map(|(id, t)| Entry::new(id, t).ok()).collect();
        let parsed = EntryList::parse(&list.to_string());
        prop_assert_eq!(parsed.malformed, 0);
        prop_assert_eq!(&parsed.entries, &list);
        // Writing is stable: merging a list into itself adds nothing.
        let mut again = list.clone();
        prop_assert_eq!(again.merge(&list), 0);
        prop_assert_eq!(again.to_string(), list.to_string());
    }

    #[test]
    fn codec_never_panics_and_never_writes_separators_inside_entries(s in ".{0,400}") {
        let parsed = EntryList::parse(&s);
        for e in parsed.entries.entries() {
            prop_assert!(!e.misp_type().contains(',') && !e.misp_type().contains('#'));
            prop_assert!(e.event_id().bytes().all(|b| b.is_ascii_digit()));
        }
        let reparsed = EntryList::parse(&parsed.entries.to_string());
        prop_assert_eq!(reparsed.entries, parsed.entries);
    }
}
