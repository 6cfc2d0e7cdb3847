//! Upstream calls over TLS (`providers/src/client.rs`): the upstream's certificate is verified
//! against the platform's trust store (here replaced by `SSL_CERT_FILE`), an untrusted one is
//! refused before anything is sent, and a verified connection is kept alive and reused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// An HTTPS OpenAI-compatible upstream on loopback with a fresh self-signed certificate for
/// `localhost`. Counts TLS sessions established and requests served.
struct TlsUpstream {
    port: u16,
    ca_file: tempfile::NamedTempFile,
    handshakes: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    auth: Arc<Mutex<Vec<String>>>,
}

async fn tls_upstream() -> TlsUpstream {
    common::init();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca_file, ck.cert.pem().as_bytes()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let auth = Arc::new(Mutex::new(Vec::new()));
    let (h, r, a) = (handshakes.clone(), requests.clone(), auth.clone());
    #[allow(clippy::disallowed_methods)] // the test's upstream lives as long as the test runtime
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let (h, r, a) = (h.clone(), r.clone(), a.clone());
            #[allow(clippy::disallowed_methods)] // one task per test connection
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    r.fetch_add(1, Ordering::SeqCst);
                    if let Some(v) = req.headers().get("authorization") {
                        a.lock().unwrap().push(v.to_str().unwrap().to_owned());
                    }
                    async move {
                        let body = json!({"id": "chatcmpl-tls", "object": "chat.completion",
                            "created": 1, "model": "m", "choices": [{"index": 0,
                            "message": {"role": "assistant", "content": "over tls"},
                            "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}});
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(http_body_util::Full::new(bytes::Bytes::from(
                                    body.to_string(),
                                )))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsUpstream {
        port,
        ca_file,
        handshakes,
        requests,
        auth,
    }
}

async fn chat(gw: &common::Gateway, key: &str, model: &str) -> (u16, Value) {
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_upstream_is_served_over_one_kept_alive_tls_connection() {
    let up = tls_upstream().await;
    let gw = common::Gateway::start_with(
        common::Options::new(common::Db::Sqlite)
            .env("SSL_CERT_FILE", up.ca_file.path().to_str().unwrap())
            // One worker, so every request uses the same thread's connection pool.
            .env("MODELGATE_WORKERS", "1"),
    )
    .await;
    let base = format!("https://localhost:{}/v1", up.port);
    gw.add_provider("tls", &base, "sk-tls-secret", &[("m", "m")])
        .await;
    let (_, key) = gw.add_key(json!({})).await;
    for _ in 0..3 {
        let (s, body) = chat(&gw, &key, "m").await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["choices"][0]["message"]["content"], "over tls");
    }
    assert_eq!(up.requests.load(Ordering::SeqCst), 3);
    assert_eq!(
        up.handshakes.load(Ordering::SeqCst),
        1,
        "one TLS session, kept alive and reused"
    );
    assert!(
        up.auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "Bearer sk-tls-secret")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_upstream_certificate_is_refused_before_the_key_is_sent() {
    let up = tls_upstream().await;
    // No SSL_CERT_FILE: the self-signed certificate is not trusted.
    let gw = common::Gateway::start(common::Db::Sqlite).await;
    let base = format!("https://localhost:{}/v1", up.port);
    gw.add_provider("tls", &base, "sk-tls-secret", &[("m", "m")])
        .await;
    let (_, key) = gw.add_key(json!({})).await;
    let (s, body) = chat(&gw, &key, "m").await;
    assert_eq!(s, 502, "{body}");
    common::assert_error_shape(&body);
    assert_eq!(up.handshakes.load(Ordering::SeqCst), 0);
    assert_eq!(up.requests.load(Ordering::SeqCst), 0);
    assert!(up.auth.lock().unwrap().is_empty(), "the key never left");
}

/// The trust store is read on the first `https` connection, once per process: a gateway whose
/// system store is empty still serves its plain-HTTP upstreams, and its `https` calls fail
/// with a clear upstream error instead of the process or every request failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_trust_store_fails_only_the_tls_calls() {
    let up = tls_upstream().await;
    let plain = common::mock::MockUpstream::start("plain").await;
    let empty_dir = tempfile::tempdir().unwrap();
    let empty_file = tempfile::NamedTempFile::new().unwrap();
    let gw = common::Gateway::start_with(
        common::Options::new(common::Db::Sqlite)
            .env("SSL_CERT_FILE", empty_file.path().to_str().unwrap())
            .env("SSL_CERT_DIR", empty_dir.path().to_str().unwrap()),
    )
    .await;
    gw.add_provider(
        "plain",
        &plain.base_url(),
        "sk-plain",
        &[("p", "mock-model")],
    )
    .await;
    let base = format!("https://localhost:{}/v1", up.port);
    gw.add_provider("tls", &base, "sk-tls-secret", &[("m", "m")])
        .await;
    let (_, key) = gw.add_key(json!({})).await;
    for _ in 0..2 {
        let (s, body) = chat(&gw, &key, "m").await;
        assert_eq!(s, 502, "{body}");
        common::assert_error_shape(&body);
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("cannot set up TLS"), "{body}");
        let (s, body) = chat(&gw, &key, "p").await;
        assert_eq!(s, 200, "{body}");
    }
    assert_eq!(up.handshakes.load(Ordering::SeqCst), 0);
    assert!(up.auth.lock().unwrap().is_empty(), "the key never left");
}
