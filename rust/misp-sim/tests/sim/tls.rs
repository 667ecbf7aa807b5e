//! HTTPS with the generated CA.

use crate::harness::*;
use serde_json::json;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

#[test]
fn https_with_the_written_ca() {
    let ca_path = write_file("ca.pem", "");
    std::fs::remove_file(&ca_path).unwrap();
    // Start with a plain agent: the CA file exists only once the sim runs.
    let sim = Sim::start(&[
        "--generate",
        "10",
        "--tls",
        "--ca-out",
        ca_path.to_str().unwrap(),
    ]);
    assert!(
        sim.ready_line
            .starts_with("listening on https://127.0.0.1:"),
        "{}",
        sim.ready_line
    );
    let pem = std::fs::read(&ca_path).unwrap();
    assert!(String::from_utf8_lossy(&pem).starts_with("-----BEGIN CERTIFICATE-----"));

    let trusted: ureq::Agent = agent_config()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&[
                    Certificate::from_pem(&pem).unwrap()
                ]))
                .build(),
        )
        .build()
        .into();
    let body = json!({"limit": 3}).to_string();
    let r = read(
        trusted
            .post(&sim.url("/attributes/restSearch"))
            .header("Authorization", KEY)
            .header("Content-Type", "application/json")
            .send(&body)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.ids(), vec![1, 2, 3]);
    // Also by name (the certificate carries localhost).
    let by_name = sim
        .url("/servers/getVersion")
        .replace("127.0.0.1", "localhost");
    let r = read(
        trusted
            .get(&by_name)
            .header("Authorization", KEY)
            .header("Accept", "application/json")
            .call()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(r.json()["version"], "2.5.1");

    // Without the CA the certificate is not trusted.
    let untrusted: ureq::Agent = agent_config().build().into();
    let err = untrusted
        .post(&sim.url("/attributes/restSearch"))
        .header("Authorization", KEY)
        .send(&body);
    assert!(err.is_err());
    // And plain HTTP to the TLS port gets no MISP answer.
    let plain = sim
        .url("/servers/getVersion")
        .replace("https://", "http://");
    let r = untrusted
        .get(&plain)
        .header("Accept", "application/json")
        .call();
    assert!(r.map(|x| x.status().as_u16() != 200).unwrap_or(true));
}
