//! The engine's C ABI, called as a C caller would: configuration errors,
//! malformed batches and NULL pointers come back as statuses with messages,
//! real lookups against a real memcached, stats as JSON, buffers freed.
#![allow(clippy::unwrap_used)]

use std::ffi::CStr;
use std::ptr;

use misp_enrich::{
    misp_enrich_buffer_free, misp_enrich_engine_free, misp_enrich_engine_lookup,
    misp_enrich_engine_new, misp_enrich_engine_stats, misp_enrich_namespaces, MispEnrichEngine,
    MispEnrichStatus as S,
};
use misp_enrich_memcached::{Connection, Op, TestServer, Timeouts};

fn new_engine(json: &str) -> Result<*mut MispEnrichEngine, (S, String)> {
    let mut engine = ptr::null_mut();
    let mut err = [0u8; 512];
    let mut err_len = usize::MAX;
    // SAFETY: every pointer is valid for its stated length during the call.
    let status = unsafe {
        misp_enrich_engine_new(
            json.as_ptr(),
            json.len(),
            &mut engine,
            err.as_mut_ptr(),
            err.len(),
            &mut err_len,
        )
    };
    if status == S::Ok {
        assert_eq!(err_len, 0);
        assert!(!engine.is_null());
        Ok(engine)
    } else {
        assert!(engine.is_null(), "engine_out is written only on success");
        Err((status, String::from_utf8(err[..err_len].to_vec()).unwrap()))
    }
}

fn lookup(engine: *const MispEnrichEngine, batch: &[u8]) -> Result<Vec<u8>, (S, String)> {
    let (mut out, mut out_len) = (ptr::null_mut(), 0usize);
    let mut err = [0u8; 256];
    let mut err_len = 0usize;
    // SAFETY: every pointer is valid for its stated length during the call.
    let status = unsafe {
        misp_enrich_engine_lookup(
            engine,
            batch.as_ptr(),
            batch.len(),
            &mut out,
            &mut out_len,
            err.as_mut_ptr(),
            err.len(),
            &mut err_len,
        )
    };
    if status != S::Ok {
        return Err((status, String::from_utf8(err[..err_len].to_vec()).unwrap()));
    }
    // SAFETY: on Ok the library returned `out_len` bytes at `out`.
    let bytes = unsafe { std::slice::from_raw_parts(out, out_len) }.to_vec();
    // SAFETY: released once, with the length it came with.
    unsafe { misp_enrich_buffer_free(out, out_len) };
    Ok(bytes)
}

fn stats(engine: *const MispEnrichEngine) -> serde_json::Value {
    let (mut out, mut len) = (ptr::null_mut(), 0usize);
    // SAFETY: valid engine and writable out-parameters.
    assert_eq!(
        unsafe { misp_enrich_engine_stats(engine, &mut out, &mut len) },
        S::Ok
    );
    // SAFETY: on Ok the library returned `len` bytes at `out`.
    let json = serde_json::from_slice(unsafe { std::slice::from_raw_parts(out, len) }).unwrap();
    // SAFETY: released once, with its length.
    unsafe { misp_enrich_buffer_free(out, len) };
    json
}

fn ns_id(name: &str) -> u8 {
    // SAFETY: a static NUL-terminated string.
    let table = unsafe { CStr::from_ptr(misp_enrich_namespaces()) }
        .to_str()
        .unwrap();
    table.lines().position(|l| l == name).unwrap() as u8
}

fn batch(items: &[(u32, &str, &[u8])]) -> Vec<u8> {
    let mut b = b"MEL1".to_vec();
    b.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for (slot, ns, v) in items {
        b.extend_from_slice(&slot.to_le_bytes());
        b.push(ns_id(ns));
        b.extend_from_slice(&(v.len() as u32).to_le_bytes());
        b.extend_from_slice(v);
    }
    b
}

#[test]
fn configuration_errors_are_statuses_with_messages() {
    let (status, message) =
        new_engine(r#"{"servers":["127.0.0.1:1"],"cache_sise":5}"#).unwrap_err();
    assert_eq!(status, S::InvalidConfig);
    assert!(message.contains("unknown field `cache_sise`"), "{message}");
    assert_eq!(new_engine("{").unwrap_err().0, S::InvalidConfig);
    assert_eq!(
        new_engine(r#"{"servers":[]}"#).unwrap_err().0,
        S::InvalidConfig
    );
    // Not UTF-8.
    let bad = [b'{', 0xff, b'}'];
    let mut engine = ptr::null_mut();
    // SAFETY: valid pointers; a NULL error buffer with capacity 0 is allowed.
    let status = unsafe {
        misp_enrich_engine_new(
            bad.as_ptr(),
            3,
            &mut engine,
            ptr::null_mut(),
            0,
            ptr::null_mut(),
        )
    };
    assert_eq!(status, S::NotUtf8);
    // A message longer than the buffer is cut, on a character boundary.
    let mut err = [0u8; 10];
    let mut err_len = 0;
    let json = r#"{"servers":[],"x":1}"#;
    // SAFETY: valid pointers and lengths.
    let status = unsafe {
        misp_enrich_engine_new(
            json.as_ptr(),
            json.len(),
            &mut engine,
            err.as_mut_ptr(),
            err.len(),
            &mut err_len,
        )
    };
    assert_eq!(status, S::InvalidConfig);
    assert_eq!(err_len, 10);
    // NULL out-parameter.
    let ok = r#"{"servers":["127.0.0.1:1"],"range_refresh_ms":0,"connect_timeout_ms":50}"#;
    // SAFETY: `engine_out` NULL is refused before any write.
    assert_eq!(
        unsafe {
            misp_enrich_engine_new(
                ok.as_ptr(),
                ok.len(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
                ptr::null_mut(),
            )
        },
        S::InvalidArgument
    );
}

#[test]
fn malformed_batches_and_null_pointers_are_statuses() {
    let engine =
        new_engine(r#"{"servers":["127.0.0.1:1"],"range_refresh_ms":0,"connect_timeout_ms":50}"#)
            .unwrap();
    for bad in [
        &b""[..],
        b"MEL1",
        b"NOPE\0\0\0\0",
        b"MEL1\x05\0\0\0",
        b"MEL1\0\0\0\0junk",
    ] {
        let (status, message) = lookup(engine, bad).unwrap_err();
        assert_eq!(status, S::MalformedBatch);
        assert!(!message.is_empty());
    }
    // SAFETY: NULL pointers are checked before use.
    unsafe {
        let (mut out, mut len) = (ptr::null_mut(), 0usize);
        assert_eq!(
            misp_enrich_engine_lookup(
                ptr::null(),
                ptr::null(),
                0,
                &mut out,
                &mut len,
                ptr::null_mut(),
                0,
                ptr::null_mut()
            ),
            S::InvalidArgument
        );
        assert_eq!(
            misp_enrich_engine_lookup(
                engine,
                ptr::null(),
                8,
                &mut out,
                &mut len,
                ptr::null_mut(),
                0,
                ptr::null_mut()
            ),
            S::InvalidArgument
        );
        assert_eq!(
            misp_enrich_engine_lookup(
                engine,
                b"MEL1".as_ptr(),
                4,
                ptr::null_mut(),
                &mut len,
                ptr::null_mut(),
                0,
                ptr::null_mut()
            ),
            S::InvalidArgument
        );
        assert_eq!(
            misp_enrich_engine_stats(ptr::null(), &mut out, &mut len),
            S::InvalidArgument
        );
        misp_enrich_buffer_free(ptr::null_mut(), 0);
        misp_enrich_engine_free(ptr::null_mut());
        misp_enrich_engine_free(engine);
    }
}

#[test]
fn real_lookups_through_the_abi() {
    let server = TestServer::start();
    let mut c = Connection::connect(&server.addr(), Timeouts::default()).unwrap();
    c.execute(&[Op::Set {
        key: "ti-domain:evil.example",
        value: b"12#domain",
        exptime: 0,
    }])
    .unwrap();
    let json = format!(
        r#"{{"servers":["{}"],"prefix":"ti","range_refresh_ms":0,"event_metadata":false}}"#,
        server.addr()
    );
    let engine = new_engine(&json).unwrap();
    let out = lookup(
        engine,
        &batch(&[
            (3, "domain", b"Evil.Example."),
            (4, "domain", b"fine.example"),
            (5, "ip", b"\xff"),
        ]),
    )
    .unwrap();
    let mut expected = b"MER1".to_vec();
    expected.extend_from_slice(&1u32.to_le_bytes()); // one record
    expected.extend_from_slice(&3u32.to_le_bytes()); // slot 3
    expected.push(0); // not failed
    expected.extend_from_slice(&1u32.to_le_bytes()); // one match
    expected.push(ns_id("domain"));
    expected.push(0); // exact
    expected.extend_from_slice(&12u32.to_le_bytes());
    expected.extend_from_slice(b"evil.example");
    expected.extend_from_slice(&1u32.to_le_bytes()); // one entry
    expected.extend_from_slice(&2u32.to_le_bytes());
    expected.extend_from_slice(b"12");
    expected.extend_from_slice(&6u32.to_le_bytes());
    expected.extend_from_slice(b"domain");
    expected.extend_from_slice(&0u32.to_le_bytes()); // no events
    assert_eq!(out, expected);
    let s = stats(engine);
    assert_eq!(s["items"], 3);
    assert_eq!(s["matches"], 1);
    assert_eq!(s["invalid_values"], 1);
    assert_eq!(s["servers"][0]["breaker"], "closed");
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    // SAFETY: freed once, no other call in flight.
    unsafe { misp_enrich_engine_free(engine) };
}

#[test]
fn the_namespace_table_names_every_id() {
    // SAFETY: a static NUL-terminated string.
    let table = unsafe { CStr::from_ptr(misp_enrich_namespaces()) }
        .to_str()
        .unwrap();
    let names: Vec<&str> = table.lines().collect();
    assert_eq!(names[0], "md5");
    assert!(names.contains(&"ip") && names.contains(&"domain") && names.contains(&"sha256"));
    assert_eq!(names.last(), Some(&"hashes"));
}
