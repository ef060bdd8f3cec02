use std::sync::atomic::Ordering;

use prost::Message;

use super::*;
use crate::app;
use crate::config::Config;
use crate::test_support::{int_point, kv, request_with, sum};

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    // Encode by hand (the decoder under test must not check itself).
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

#[test]
fn bearer_tokens_match_exactly_and_failures_are_counted() {
    let a = BearerConfig {
        token: Some("s3cret".into()),
        ..Default::default()
    }
    .validate("bearertokenauth")
    .unwrap();
    assert!(a.check(Some("Bearer s3cret")));
    assert!(a.check(Some("bearer s3cret")));
    for wrong in [
        None,
        Some("Bearer s3cre"),
        Some("Bearer s3cret2"),
        Some("Basic s3cret"),
        Some(""),
    ] {
        assert!(!a.check(wrong), "{wrong:?}");
    }
    assert_eq!(a.failures.load(Ordering::Relaxed), 5);
    assert_eq!(a.challenge(), "Bearer");
}

#[test]
fn a_token_file_is_read_again_when_it_changes() {
    let dir = std::env::temp_dir().join(format!("vigil-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "one\n").unwrap();
    let a = BearerConfig {
        filename: Some(path.display().to_string()),
        ..Default::default()
    }
    .validate("bearertokenauth")
    .unwrap();
    assert!(a.check(Some("Bearer one")));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&path, "two").unwrap();
    // Checked at most once a second, so wait past that.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(a.check(Some("Bearer two")));
    assert!(!a.check(Some("Bearer one")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn basic_auth_takes_clear_and_bcrypt_passwords() {
    let hash = bcrypt::hash("pa:ss", 4).unwrap();
    let a = BasicConfig {
        htpasswd: Some(Htpasswd {
            inline: Some(format!("# users\nalice:wonder\nbob:{hash}\n")),
            file: None,
        }),
        user_is_tenant: false,
    }
    .validate("basicauth")
    .unwrap();
    assert!(a.check(Some(&basic("alice", "wonder"))));
    assert!(a.check(Some(&basic("bob", "pa:ss"))));
    // Remembered: the second check does not run bcrypt, and still says yes.
    assert!(a.check(Some(&basic("bob", "pa:ss"))));
    for (user, password) in [
        ("alice", "wonder!"),
        ("bob", "pass"),
        ("carol", "wonder"),
        ("", ""),
    ] {
        assert!(!a.check(Some(&basic(user, password))), "{user}:{password}");
    }
    assert!(!a.check(Some("Basic !!!")));
    assert_eq!(a.challenge(), "Basic realm=\"vigil\"");
    let err = |inline: &str| {
        BasicConfig {
            htpasswd: Some(Htpasswd {
                inline: Some(inline.into()),
                file: None,
            }),
            user_is_tenant: false,
        }
        .validate("basicauth")
        .unwrap_err()
    };
    assert_eq!(
        err("nocolon"),
        "htpasswd.inline: line 1 is not user:password"
    );
    assert_eq!(
        err("u:{SHA}abc"),
        "htpasswd.inline: line 1: only clear-text and bcrypt (htpasswd -B) passwords are supported"
    );
    assert_eq!(
        err("# only a comment"),
        "htpasswd: no user (file and inline are empty)"
    );
}

async fn guarded() -> crate::app::Running {
    let yaml = "extensions:\n  bearertokenauth:\n    token: s3cret\n\
        receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n        auth: {authenticator: bearertokenauth}\n      http:\n        endpoint: 127.0.0.1:0\n        auth: {authenticator: bearertokenauth}\n\
        exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n    auth: {authenticator: bearertokenauth}\n\
        service:\n  extensions: [bearertokenauth]\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n";
    app::start(&Config::from_yaml_str(yaml, "auth").unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn every_endpoint_refuses_without_credentials_and_health_stays_open() {
    let vigil = guarded().await;
    let (http, pages) = (vigil.http_addr.unwrap(), vigil.listen_addr.unwrap());
    let body = request_with(vec![sum("c", vec![int_point(1, vec![kv("k", "a")])])]).encode_to_vec();
    let client = reqwest::Client::new();
    for token in [None, Some("Bearer wrong")] {
        let mut post = client
            .post(format!("http://{http}/v1/metrics"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone());
        if let Some(t) = token {
            post = post.header("authorization", t);
        }
        let r = post.send().await.unwrap();
        assert_eq!(r.status(), 401, "{token:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(r.text().await.unwrap(), "unauthenticated\n");
        for path in ["/metrics", "/api/v1/snapshot"] {
            let mut get = client.get(format!("http://{pages}{path}"));
            if let Some(t) = token {
                get = get.header("authorization", t);
            }
            assert_eq!(get.send().await.unwrap().status(), 401, "{path} {token:?}");
        }
    }
    for path in ["/healthz", "/readyz"] {
        let r = client
            .get(format!("http://{pages}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    assert_eq!(vigil.store.as_deref().unwrap().series_count(), 0);

    // gRPC: UNAUTHENTICATED without, served with.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", vigil.grpc_addr.unwrap()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut grpc = opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient::new(channel);
    let req = request_with(vec![sum("c", vec![int_point(1, vec![kv("k", "grpc")])])]);
    let status = grpc.export(req.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "unauthenticated");
    // Every method and every OTLP/HTTP path, not only metrics.
    let grpc_addr = format!("http://{}", vigil.grpc_addr.unwrap());
    let mut traces = opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::connect(grpc_addr.clone()).await.unwrap();
    let status = traces
        .export(crate::test_support::traces_request(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut logs = opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient::connect(grpc_addr).await.unwrap();
    let status = logs
        .export(crate::test_support::logs_request(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    for path in ["/v1/traces", "/v1/logs"] {
        let r = client
            .post(format!("http://{http}{path}"))
            .header("content-type", "application/x-protobuf")
            .header("authorization", "Bearer wrong")
            .body(Vec::new())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let mut with = tonic::Request::new(req);
    with.metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    grpc.export(with).await.unwrap();

    // HTTP and the pages with the token.
    let r = client
        .post(format!("http://{http}/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .header("authorization", "Bearer s3cret")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = client
        .get(format!("http://{pages}/metrics"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(vigil.store.as_deref().unwrap().series_count(), 2);
    vigil.shutdown().await;
}

#[test]
fn an_authenticator_must_exist_be_one_and_be_started() {
    let cfg = |extensions: &str, service_ext: &str, auth: &str| {
        format!(
            "{extensions}receivers:\n  otlp:\n    protocols:\n      http:\n        auth: {{authenticator: {auth}}}\n\
             exporters:\n  prometheus:\nservice:\n{service_ext}  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
        )
    };
    let err = |yaml: String| Config::from_yaml_str(&yaml, "t").unwrap_err().to_string();
    let e = err(cfg("", "", "bearertokenauth"));
    assert!(
        e.contains("receivers.otlp.protocols.http.auth.authenticator"),
        "{e}"
    );
    let e = err(cfg(
        "extensions:\n  bearertokenauth:\n    token: t\n",
        "",
        "bearertokenauth",
    ));
    assert!(
        e.contains("is not started: add it to service.extensions"),
        "{e}"
    );
    let e = err(cfg(
        "extensions:\n  file_storage:\n    directory: /tmp\n",
        "  extensions: [file_storage]\n",
        "file_storage",
    ));
    assert!(
        e.contains("is not an authenticator (bearertokenauth or basicauth)"),
        "{e}"
    );
    let e = err(cfg(
        "extensions:\n  bearertokenauth:\n    token: t\n    filename: /x\n",
        "  extensions: [bearertokenauth]\n",
        "bearertokenauth",
    ));
    assert!(
        e.contains("token: set together with filename; use one"),
        "{e}"
    );
}

#[test]
fn bearer_tenants_map_each_token_to_its_tenant() {
    let a: BearerConfig =
        serde_yaml::from_str("token: implicit-token\ntenants: {team-a: token-a, team-b: token-b}")
            .unwrap();
    let a = a.validate("bearertokenauth").unwrap();
    let tenant = |header: &str| a.authenticate(Some(header));
    assert_eq!(tenant("Bearer implicit-token"), Ok(None));
    assert_eq!(tenant("Bearer token-a"), Ok(Some("team-a".into())));
    assert_eq!(tenant("Bearer token-b"), Ok(Some("team-b".into())));
    for wrong in [
        "Bearer token-c",
        "Bearer token-ab",
        "Basic token-a",
        "token-a",
    ] {
        assert_eq!(tenant(wrong), Err(super::Unauthenticated), "{wrong:?}");
    }
    // Tenants alone are enough; a token given twice or empty is refused.
    let only: BearerConfig = serde_yaml::from_str("tenants: {a: x}").unwrap();
    assert!(only.validate("b").is_ok());
    for (yaml, error) in [
        (
            "tenants: {a: x, b: x}",
            "tenants.b: the token is given twice",
        ),
        (
            "token: x\ntenants: {a: x}",
            "tenants.a: the token is given twice",
        ),
        ("tenants: {a: ' '}", "tenants.a: the token is empty"),
        (
            "tenants: {'a b': x}",
            "tenants: \"a b\" is not a tenant name (1 to 150 letters, digits, '-', '_' or '.')",
        ),
        ("{}", "token: required (or filename, or tenants)"),
    ] {
        let config: BearerConfig = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(config.validate("b").unwrap_err(), error, "{yaml}");
    }
}

#[test]
fn basic_auth_users_are_tenants_when_asked() {
    for user_is_tenant in [false, true] {
        let a = BasicConfig {
            htpasswd: Some(Htpasswd {
                inline: Some("alice:wonder\nbob:builder\n".into()),
                file: None,
            }),
            user_is_tenant,
        }
        .validate("basicauth")
        .unwrap();
        for _remembered in 0..2 {
            let alice = a.authenticate(Some(&basic("alice", "wonder")));
            let bob = a.authenticate(Some(&basic("bob", "builder")));
            if user_is_tenant {
                assert_eq!(
                    (alice, bob),
                    (Ok(Some("alice".into())), Ok(Some("bob".into())))
                );
            } else {
                assert_eq!((alice, bob), (Ok(None), Ok(None)));
            }
        }
    }
}
