//! Operational routes and robustness: `/health`, `/ready` with Redis down and back, `/metrics`,
//! `/openapi.json` covering every route, JSON 404/405, and no 5xx for any random input.

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use wa_tests::harness::api::{TestApi, user_token};

#[tokio::test]
async fn health_needs_no_auth_and_reports_counts() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    api.http
        .post(api.url("/connect"))
        .bearer_auth(&token)
        .json(&json!({"sessionId": "s1"}))
        .send()
        .await
        .unwrap();
    let r = api.http.get(api.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["sessions"], 1);
    assert_eq!(body["websocketClients"], 0);
    assert!(body["timestamp"].as_str().unwrap().contains('T'));
}

#[tokio::test]
async fn ready_follows_redis_and_requests_fail_with_503_not_500() {
    let mut api = TestApi::start().await;
    let token = user_token("acme");
    assert_eq!(
        api.http
            .get(api.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    api.redis.kill();
    let r = api.http.get(api.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "redis_unavailable"
    );
    let r = api
        .http
        .get(api.url("/session-status/s1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = api.http.get(api.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200, "liveness does not depend on Redis");
    assert_eq!(r.json::<Value>().await.unwrap()["sessions"], Value::Null);
    api.redis.restart();
    wa_tests::harness::wait_until("ready again", std::time::Duration::from_secs(10), || {
        let req = api.http.get(api.url("/ready"));
        async move { (req.send().await.ok()?.status() == 200).then_some(()) }
    })
    .await;
    let r = api
        .http
        .post(api.url("/connect"))
        .bearer_auth(&token)
        .json(&json!({"sessionId": "s1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_commands_written() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    api.http
        .post(api.url("/connect"))
        .bearer_auth(&token)
        .json(&json!({"sessionId": "s1"}))
        .send()
        .await
        .unwrap();
    api.http
        .get(api.url("/session-status/s1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    api.http
        .get(api.url("/session-status/zz"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let text = api
        .http
        .get(api.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#"wa_api_requests_total{method="GET",route="/session-status/{sessionId}",status="200"} 1"#), "{text}");
    assert!(text.contains(
        r#"wa_api_requests_total{method="GET",route="/session-status/{sessionId}",status="404"} 1"#
    ));
    assert!(text.contains(r#"wa_api_request_duration_seconds_count{route="/connect"} 1"#));
    assert!(text.contains(r#"wa_api_commands_written_total{kind="claim"} 1"#));
}

/// Every route the server answers is in the document, and every documented operation is served.
#[tokio::test]
async fn openapi_documents_every_route() {
    let api = TestApi::start().await;
    let doc: Value = api
        .http
        .get(api.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("post", "/connect"),
        ("post", "/disconnect"),
        ("post", "/reconnect"),
        ("post", "/send-message"),
        ("get", "/session-status/{sessionId}"),
        ("get", "/sessions"),
        ("delete", "/sessions/{sessionId}"),
        ("get", "/messages/{messageId}"),
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/ws"),
    ];
    for (method, path) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from openapi"
        );
    }
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let concrete = path
                .replace("{sessionId}", "s1")
                .replace("{messageId}", "m1");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = api
                .http
                .request(m, api.url(&concrete))
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let code = body["error"]["code"].as_str().unwrap_or("");
            assert!(
                code != "route_not_found" && code != "method_not_allowed",
                "{method} {path} is documented but not served"
            );
        }
    }
    assert_eq!(
        operations,
        expected.len(),
        "the document has operations this test does not know: update `expected`"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let api = TestApi::start().await;
    let r = api.http.get(api.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "route_not_found"
    );
    let r = api.http.get(api.url("/connect")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>()),
        4 => {
            let len = rng.random_range(0..80);
            json!((0..len).map(|_| rng.random::<char>()).collect::<String>())
        }
        5 => json!(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect::<Vec<_>>()
        ),
        _ => {
            let fields = [
                "sessionId",
                "sessionName",
                "phoneNumber",
                "message",
                "clientMessageId",
                "x",
            ];
            let mut obj = serde_json::Map::new();
            for f in fields {
                if rng.random_bool(0.6) {
                    obj.insert(f.to_owned(), random_json(rng, depth + 1));
                }
            }
            Value::Object(obj)
        }
    }
}

/// Random bodies, field types, raw bytes and paths never produce a 5xx.
#[tokio::test]
async fn no_input_produces_a_server_error() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    api.http
        .post(api.url("/connect"))
        .bearer_auth(&token)
        .json(&json!({"sessionId": "s1"}))
        .send()
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let routes = ["/connect", "/disconnect", "/reconnect", "/send-message"];
    let path_bits = [
        "s1",
        "..",
        "%00",
        "a b",
        "%F0%9F%98%80",
        "x".repeat(100).leak(),
        "-",
        "_",
        "%25",
        "session-status",
    ];
    for i in 0..400 {
        let r = if i % 4 == 3 {
            let a = path_bits[rng.random_range(0..path_bits.len())];
            let b = path_bits[rng.random_range(0..path_bits.len())];
            let prefix =
                ["/session-status/", "/sessions/", "/messages/", "/"][rng.random_range(0..4)];
            let method = [
                reqwest::Method::GET,
                reqwest::Method::DELETE,
                reqwest::Method::POST,
                reqwest::Method::PUT,
            ][rng.random_range(0..4)]
            .clone();
            api.http
                .request(method, api.url(&format!("{prefix}{a}/{b}")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
        } else {
            let route = routes[rng.random_range(0..routes.len())];
            let req = api.http.post(api.url(route)).bearer_auth(&token);
            if i % 5 == 0 {
                let len = rng.random_range(0..200);
                let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                req.header("content-type", "application/json")
                    .body(bytes)
                    .send()
                    .await
                    .unwrap()
            } else {
                req.json(&random_json(&mut rng, 0)).send().await.unwrap()
            }
        };
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status < 500, "request {i} answered {status}: {body}");
        if status >= 400 {
            assert_eq!(body["success"], false, "request {i}: {body}");
            assert!(body["error"]["code"].is_string(), "request {i}: {body}");
        }
    }
}
