//! The fake server's admin API refuses bad input with a 4xx and a clear message and stays up; QR
//! refs expire; the `fake-whatsapp` binary announces its addresses.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wa_tests::fake::{AdminClient, FakeConfig, FakeWhatsApp, RealClient};

async fn post(url: &str, body: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("admin answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_admin_input_gets_4xx_with_a_message() {
    let fake = FakeWhatsApp::start(FakeConfig::default())
        .await
        .expect("starts");
    let base = fake.admin_url();
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "/admin/scan",
            "not json".into(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "/admin/scan",
            json!({"qr": "a,b"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "/admin/scan",
            json!({"qr": "a,b,c,d", "phone": "+1555"}).to_string(),
            StatusCode::BAD_REQUEST,
            "phone",
        ),
        (
            "/admin/scan",
            json!({"qr": "a,b", "phone": "15550001111"}).to_string(),
            StatusCode::BAD_REQUEST,
            "PairingQrCode",
        ),
        (
            "/admin/scan",
            json!({"qr": "ref,!!,??,%%", "phone": "15550001111"}).to_string(),
            StatusCode::BAD_REQUEST,
            "base64",
        ),
        (
            "/admin/contacts",
            json!({"phone": "abc"}).to_string(),
            StatusCode::BAD_REQUEST,
            "phone",
        ),
        (
            "/admin/contacts/15559990000/send",
            json!({"to": "15550001111", "text": "hi"}).to_string(),
            StatusCode::NOT_FOUND,
            "no contact",
        ),
        (
            "/admin/contacts/15559990000/read",
            json!({"from": "15550001111", "messageIds": []}).to_string(),
            StatusCode::BAD_REQUEST,
            "messageIds",
        ),
        (
            "/admin/accounts/15550001111/kick",
            json!({"reason": "explode"}).to_string(),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (
            "/admin/accounts/15550001111/kick",
            json!({"reason": "drop"}).to_string(),
            StatusCode::NOT_FOUND,
            "no connected device",
        ),
        (
            "/admin/nothing",
            "{}".into(),
            StatusCode::NOT_FOUND,
            "no such",
        ),
    ];
    for (path, body, status, needle) in cases {
        let (got, answer) = post(&format!("{base}{path}"), &body).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{path} {body}: {message:?} lacks {needle:?}"
        );
    }
    // Unknown ref with a well-formed QR.
    let key = base64_32();
    let qr = format!("unknownref,{key},{key},{key},1");
    let (got, answer) = post(
        &format!("{base}/admin/scan"),
        &json!({"qr": qr, "phone": "15550001111"}).to_string(),
    )
    .await;
    assert_eq!(got, StatusCode::NOT_FOUND, "{answer}");
    let inbox = reqwest::get(format!("{base}/admin/contacts/12/inbox"))
        .await
        .expect("answers");
    assert_eq!(inbox.status(), StatusCode::BAD_REQUEST);

    // Still serving.
    let stats = AdminClient::new(base)
        .stats()
        .await
        .expect("stats after bad input");
    assert_eq!(stats.accounts, 0);
    fake.shutdown().await;
}

fn base64_32() -> String {
    use base64::Engine as _;
    base64::prelude::BASE64_STANDARD.encode([7u8; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_qr_ref_is_refused_with_410() {
    let config = FakeConfig {
        qr_first_ref_ttl: Duration::ZERO,
        qr_next_ref_ttl: Duration::ZERO,
        ..FakeConfig::default()
    };
    let fake = FakeWhatsApp::start(config).await.expect("starts");
    let admin = AdminClient::new(fake.admin_url());
    let mut client = RealClient::start(&fake.ws_url(), RealClient::memory_backend())
        .await
        .expect("client");
    let qr = client.next_qr(Duration::from_secs(20)).await.expect("QR");
    let refused = admin.scan(&qr, "15550004444").await.expect_err("expired");
    let refusal = refused
        .downcast_ref::<wa_tests::fake::admin_client::AdminRefusal>()
        .expect("an admin refusal");
    assert_eq!(refusal.status, StatusCode::GONE, "{refusal}");
    assert_eq!(fake.stats().accounts, 0);
    client.abort();
    fake.shutdown().await;
}

#[test]
fn binary_prints_its_bound_addresses() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-whatsapp"))
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let ready: Value = serde_json::from_str(&line).expect("one JSON line");
    let listen = ready["listen"].as_str().expect("listen");
    let admin = ready["admin"].as_str().expect("admin");
    assert!(
        listen.starts_with("127.0.0.1:") && !listen.ends_with(":0"),
        "{line}"
    );
    let stats = std::net::TcpStream::connect(admin);
    assert!(stats.is_ok(), "admin port accepts connections: {line}");
    child.kill().expect("stop");
    let _ = child.wait();

    let bad = Command::new(env!("CARGO_BIN_EXE_fake-whatsapp"))
        .args(["--listen", "nowhere"])
        .stderr(Stdio::piped())
        .output()
        .expect("binary runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--listen"));
}
