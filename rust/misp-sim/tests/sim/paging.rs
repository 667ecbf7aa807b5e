//! limit/page, X-Result-Count, post-limit filtering and scale.

use crate::harness::*;
use serde_json::json;

/// Pages through a query with MISP's rule (continue while X-Result-Count >=
/// limit) and returns the ids in order.
fn page_all(sim: &Sim, filters: serde_json::Value, limit: usize) -> (Vec<u64>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    for page in 1.. {
        let r = sim.search(with(&filters, json!({"limit": limit, "page": page})));
        pages += 1;
        ids.extend(r.ids());
        if r.result_count() < limit {
            break;
        }
        assert!(page < 10_000, "paging never ended");
    }
    (ids, pages)
}

#[test]
fn paging_covers_everything_once_in_order() {
    let sim = Sim::start(&["--generate", "1234", "--attrs-per-event", "10"]);
    let filters = json!({"to_ids": true, "published": true, "order": "Attribute.id asc"});
    let unpaged = sim.ids(filters.clone());
    assert!(unpaged.len() > 500, "{}", unpaged.len());
    let (paged, pages) = page_all(&sim, filters, 100);
    assert_eq!(paged, unpaged);
    assert!(paged.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(pages, unpaged.len() / 100 + 1);
}

#[test]
fn result_count_header_rules() {
    let sim = Sim::start(&[
        "--generate",
        "250",
        "--deleted-fraction",
        "0",
        "--warninglist-fraction",
        "0",
    ]);
    // Full page: rows + 1.
    let p1 = sim.search(json!({"limit": 100, "page": 1}));
    assert_eq!(p1.attrs().len(), 100);
    assert_eq!(p1.result_count(), 101);
    assert_eq!(p1.header("x-skipped-elements-count"), Some("0"));
    assert_eq!(p1.header("x-export-module-used"), Some("json"));
    assert_eq!(p1.header("x-response-format"), Some("json"));
    assert!(p1
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    // Last partial page: the rows.
    let p3 = sim.search(json!({"limit": 100, "page": 3}));
    assert_eq!(p3.ids(), (201..=250).collect::<Vec<u64>>());
    assert_eq!(p3.result_count(), 50);
    // Past the end: 200, empty list, count 1, exact envelope.
    let p9 = sim.search(json!({"limit": 100, "page": 9}));
    assert_eq!(p9.status, 200);
    assert_eq!(p9.body, "{\"response\": {\"Attribute\": []}}\n");
    assert_eq!(p9.result_count(), 1);
    // page 0 is page 1; limit alone is page 1; page without limit is ignored.
    assert_eq!(sim.ids(json!({"limit": 100, "page": 0})), p1.ids());
    assert_eq!(sim.ids(json!({"limit": "100"})), p1.ids());
    assert_eq!(sim.ids(json!({"page": 2})).len(), 250);
    // Offsets are limit×(page−1).
    assert_eq!(
        sim.ids(json!({"limit": 7, "page": 3})),
        (15..=21).collect::<Vec<u64>>()
    );
}

#[test]
fn order_by_id_desc_and_timestamp() {
    let sim = Sim::start(&["--generate", "300", "--deleted-fraction", "0"]);
    assert_eq!(
        sim.ids(json!({"limit": 3, "order": "Attribute.id desc"})),
        vec![300, 299, 298]
    );
    let attrs = sim
        .search(json!({"order": "Attribute.timestamp asc"}))
        .attrs();
    let ts: Vec<i64> = attrs
        .iter()
        .map(|a| a["timestamp"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn warninglist_and_decay_filter_after_the_limit() {
    let sim = Sim::start(&[
        "--generate",
        "600",
        "--warninglist-fraction",
        "0.3",
        "--decayed-fraction",
        "0.2",
        "--non-ids-fraction",
        "0",
    ]);
    let base = json!({"to_ids": true, "limit": 50, "page": 1});
    let plain = sim.search(base.clone()).attrs();
    assert_eq!(plain.len(), 50);
    let hits = sim
        .search(with(&base, json!({"includeWarninglistHits": true})))
        .attrs();
    let flagged: Vec<&str> = hits
        .iter()
        .filter(|a| a.get("warnings").is_some())
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(!flagged.is_empty());
    let enforced = sim.search(with(&base, json!({"enforceWarninglist": true})));
    let kept_ids = enforced.ids();
    assert_eq!(kept_ids.len() + flagged.len(), 50);
    // The page is short, but the header still says "more may follow".
    assert_eq!(enforced.result_count(), 51);
    assert_eq!(
        enforced.header("x-skipped-elements-count"),
        Some(flagged.len().to_string().as_str())
    );
    let both = sim.search(with(
        &base,
        json!({"enforceWarninglist": 1, "excludeDecayed": 1}),
    ));
    assert!(both.ids().len() < kept_ids.len());
    assert_eq!(both.result_count(), 51);
    // Paging with the rule still reaches the end and never repeats an id.
    let (all, _) = page_all(
        &sim,
        json!({"to_ids": true, "enforceWarninglist": true}),
        50,
    );
    let unpaged = sim.ids(json!({"to_ids": true, "enforceWarninglist": true}));
    assert_eq!(all, unpaged);
}

#[test]
fn large_generated_run_pages_quickly() {
    let t0 = std::time::Instant::now();
    let sim = Sim::start(&["--generate", "100000"]);
    let state = sim.state();
    let expected = state["attributes"]["to_ids_live"].as_u64().unwrap() as usize;
    let (ids, _) = page_all(
        &sim,
        json!({"to_ids": true, "order": "Attribute.id asc"}),
        10_000,
    );
    assert_eq!(ids.len(), expected);
    // Generous even for a debug build on a 2-core machine.
    assert!(t0.elapsed().as_secs() < 60, "{:?}", t0.elapsed());
}

#[test]
fn unpaged_limit_emulates_php_memory_errors() {
    let sim = Sim::start(&["--generate", "500", "--unpaged-limit", "100"]);
    let r = sim.search(all());
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["message"], "An Internal Error Has Occurred.");
    assert_eq!(sim.search(json!({"limit": 100})).status, 200);
}
