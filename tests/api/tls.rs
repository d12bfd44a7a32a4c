use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn serves_https_with_tls12_and_tls13_and_hsts() {
    leancart::http::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let app = TestApp::builder()
        .set("LEANCART_TLS_CERT", cert_path.display().to_string())
        .set("LEANCART_TLS_KEY", key_path.display().to_string())
        .start()
        .await;
    assert!(app.base.starts_with("https://"));
    let ca = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();

    for (min, max) in [
        (reqwest::tls::Version::TLS_1_2, reqwest::tls::Version::TLS_1_2),
        (reqwest::tls::Version::TLS_1_3, reqwest::tls::Version::TLS_1_3),
    ] {
        let client = reqwest::Client::builder()
            .tls_certs_only([ca.clone()])
            .tls_version_min(min)
            .tls_version_max(max)
            .build()
            .unwrap();
        let res = client.get(app.url("/v1/products?limit=1")).send().await.expect("TLS handshake succeeds");
        assert_eq!(res.status(), 200);
        let hsts = res.headers()["strict-transport-security"].to_str().unwrap();
        assert!(hsts.starts_with("max-age=31536000"), "{hsts}");
    }

    // Plain HTTP to the TLS port gets no HTTP response.
    let plain = reqwest::Client::new().get(app.url("/healthz").replace("https://", "http://")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_sends_no_hsts() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    assert!(res.headers().get("strict-transport-security").is_none());
}
