//! Authentication and rate limiting of the REST api: every token failure is a 401 with our error
//! shape, RS256/ES256 public keys work, the service token is an admin, and tenants are rate limited.

use std::{path::PathBuf, process::Command};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use wa_tests::harness::api::{JWT_SECRET, SERVICE_TOKEN, TestApi, user_token};

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs(alg: Algorithm, secret: &str, claims: Value) -> String {
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn status_of(api: &TestApi, auth: Option<&str>) -> (u16, Value) {
    let mut req = api.http.get(api.url("/sessions"));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_kind_of_bad_credential_is_a_401() {
    let api = TestApi::start().await;
    let valid = json!({"sub": "acme", "exp": now() + 600});
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("not bearer", Some(format!("Basic {}", user_token("acme")))),
        ("empty bearer", Some("Bearer ".into())),
        ("garbage", Some("Bearer not.a.jwt".into())),
        ("wrong secret", Some(format!("Bearer {}", hs(Algorithm::HS256, "another-secret-abcdefghijkl", valid.clone())))),
        ("expired", Some(format!("Bearer {}", hs(Algorithm::HS256, JWT_SECRET, json!({"sub": "acme", "exp": now() - 3600}))))),
        ("no exp", Some(format!("Bearer {}", hs(Algorithm::HS256, JWT_SECRET, json!({"sub": "acme"}))))),
        ("no sub", Some(format!("Bearer {}", hs(Algorithm::HS256, JWT_SECRET, json!({"exp": now() + 600}))))),
        ("empty sub", Some(format!("Bearer {}", hs(Algorithm::HS256, JWT_SECRET, json!({"sub": "", "exp": now() + 600}))))),
        ("wrong algorithm", Some(format!("Bearer {}", hs(Algorithm::HS384, JWT_SECRET, valid.clone())))),
        ("alg none", Some("Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhY21lIiwiZXhwIjo5OTk5OTk5OTk5fQ.".into())),
        ("service token with a typo", Some(format!("Bearer {SERVICE_TOKEN}x"))),
    ];
    for (what, header) in cases {
        let (status, body) = status_of(&api, header.as_deref()).await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(body["success"], false, "{what}");
        assert_eq!(body["error"]["code"], "unauthorized", "{what}");
    }
    let (status, _) = status_of(&api, Some(&format!("Bearer {}", user_token("acme")))).await;
    assert_eq!(status, 200);
    let (status, _) = status_of(&api, Some(&format!("Bearer {SERVICE_TOKEN}"))).await;
    assert_eq!(status, 200);
}

fn openssl(args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .status()
        .expect("openssl is installed")
        .success();
    assert!(ok, "openssl {args:?}");
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_configured_public_keys() {
    let dir = std::env::temp_dir().join(format!("wa-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &p("rsa.pem"),
    ]);
    openssl(&[
        "pkey",
        "-in",
        &p("rsa.pem"),
        "-pubout",
        "-out",
        &p("rsa.pub"),
    ]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &p("ec.pem"),
    ]);
    openssl(&["pkey", "-in", &p("ec.pem"), "-pubout", "-out", &p("ec.pub")]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &p("other.pem"),
    ]);
    let public: Vec<PathBuf> = vec![dir.join("rsa.pub"), dir.join("ec.pub")];
    let api = TestApi::start_with(move |c| c.jwt_public_keys = public).await;
    let claims = json!({"sub": "acme", "exp": now() + 600});
    let sign = |alg: Algorithm, key: EncodingKey| encode(&Header::new(alg), &claims, &key).unwrap();
    let rsa = std::fs::read(dir.join("rsa.pem")).unwrap();
    let ec = std::fs::read(dir.join("ec.pem")).unwrap();
    let other = std::fs::read(dir.join("other.pem")).unwrap();

    let rs256 = sign(Algorithm::RS256, EncodingKey::from_rsa_pem(&rsa).unwrap());
    let es256 = sign(Algorithm::ES256, EncodingKey::from_ec_pem(&ec).unwrap());
    let foreign = sign(Algorithm::RS256, EncodingKey::from_rsa_pem(&other).unwrap());
    assert_eq!(
        status_of(&api, Some(&format!("Bearer {rs256}"))).await.0,
        200
    );
    assert_eq!(
        status_of(&api, Some(&format!("Bearer {es256}"))).await.0,
        200
    );
    assert_eq!(
        status_of(&api, Some(&format!("Bearer {foreign}"))).await.0,
        401
    );
    // a public key used as an HMAC secret (algorithm confusion) is refused
    let confused = hs(
        Algorithm::HS256,
        &String::from_utf8_lossy(&std::fs::read(dir.join("rsa.pub")).unwrap()),
        claims.clone(),
    );
    assert_eq!(
        status_of(&api, Some(&format!("Bearer {confused}"))).await.0,
        401
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_tenant_over_its_request_budget_gets_429_with_retry_after() {
    let api = TestApi::start_with(|c| c.rate_limit = 5).await;
    let acme = format!("Bearer {}", user_token("acme"));
    for _ in 0..5 {
        assert_eq!(status_of(&api, Some(&acme)).await.0, 200);
    }
    let r = api
        .http
        .get(api.url("/sessions"))
        .header("authorization", &acme)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "rate_limited"
    );
    // another tenant has its own budget
    let globex = format!("Bearer {}", user_token("globex"));
    assert_eq!(status_of(&api, Some(&globex)).await.0, 200);
}
