//! REST message routes against a real Redis: the send command written for the owner, idempotency,
//! waiting for `sent` (200) or answering 202, state conflicts, limits, and reading a message back.
//! Where a worker's report is needed, the test writes it the way every worker does: through the
//! shared `publish_event.lua` step under a lease.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{Value, json};
use wa_shared::{commands::Command, events::EVENT_STREAM_MAXLEN, scripts::PUBLISH_EVENT};
use wa_tests::harness::api::{TestApi, user_token};

async fn post(api: &TestApi, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = api
        .http
        .post(api.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn send_commands(api: &TestApi, sid: &str) -> Vec<Command> {
    let mut conn = api.redis().await;
    let reply: redis::streams::StreamRangeReply =
        conn.xrange_all(api.keys.commands(sid)).await.unwrap();
    reply
        .ids
        .iter()
        .filter_map(|e| e.get::<String>("cmd"))
        .map(|json| Command::from_json(&json).unwrap())
        .filter(|c| matches!(c, Command::Send { .. }))
        .collect()
}

async fn running_session(api: &TestApi, token: &str, sid: &str) {
    let (status, _) = post(api, "/connect", token, json!({"sessionId": sid})).await;
    assert_eq!(status, 200);
}

fn send_body(sid: &str) -> Value {
    json!({"sessionId": sid, "phoneNumber": "+15550002222", "message": "hello there"})
}

#[tokio::test]
async fn a_send_is_recorded_queued_and_answers_202_when_no_worker_reports() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    running_session(&api, &token, "s1").await;
    let (status, body) = post(&api, "/send-message", &token, send_body("s1")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["status"], "queued");
    let message_id = body["messageId"].as_str().unwrap().to_owned();

    let cmds = send_commands(&api, "s1").await;
    assert_eq!(
        cmds,
        vec![Command::Send {
            message_id: message_id.clone(),
            to: "15550002222".into(),
            text: "hello there".into(),
            accepted_at: match &cmds[0] {
                Command::Send { accepted_at, .. } => accepted_at.clone(),
                _ => unreachable!(),
            },
        }]
    );
    let r = api
        .http
        .get(api.url(&format!("/messages/{message_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let msg: Value = r.json().await.unwrap();
    assert_eq!(msg["status"], "queued");
    assert_eq!(msg["sessionId"], "s1");
    assert_eq!(msg["phoneNumber"], "15550002222");
    assert_eq!(msg["history"][0]["status"], "queued");
    // another tenant cannot read it
    let r = api
        .http
        .get(api.url(&format!("/messages/{message_id}")))
        .bearer_auth(user_token("globex"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_message_and_queues_once() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    running_session(&api, &token, "s1").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = api
            .http
            .post(api.url("/send-message"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "order-77")
            .json(&send_body("s1"))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        ids.push(body["messageId"].as_str().unwrap().to_owned());
    }
    let mut body = send_body("s1");
    body["clientMessageId"] = json!("order-77");
    let (_, by_body) = post(&api, "/send-message", &token, body).await;
    ids.push(by_body["messageId"].as_str().unwrap().to_owned());
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_eq!(send_commands(&api, "s1").await.len(), 1);
    // a different key is a different message
    let mut body = send_body("s1");
    body["clientMessageId"] = json!("order-78");
    let (_, other) = post(&api, "/send-message", &token, body).await;
    assert_ne!(other["messageId"], json!(ids[0]));
    assert_eq!(send_commands(&api, "s1").await.len(), 2);
}

#[tokio::test]
async fn a_repeated_send_answers_where_the_message_stands_even_without_waiting() {
    let api = TestApi::start_with(|c| c.send_wait = Duration::ZERO).await;
    let token = user_token("acme");
    running_session(&api, &token, "s1").await;
    let mut body = send_body("s1");
    body["clientMessageId"] = json!("order-90");
    let (status, first) = post(&api, "/send-message", &token, body.clone()).await;
    assert_eq!(status, 202);
    assert_eq!(first["status"], "queued");
    // The owner has delivered it meanwhile: the same key again answers that it went out (200),
    // not `queued` (202).
    let id = first["messageId"].as_str().unwrap();
    let mut conn = api.redis().await;
    let _: () = conn
        .hset(api.keys.message("s1", id), "status", "delivered")
        .await
        .unwrap();
    let (status, again) = post(&api, "/send-message", &token, body).await;
    assert_eq!(again["messageId"], first["messageId"]);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["message"], "Message sent successfully", "{again}");
    assert_eq!(send_commands(&api, "s1").await.len(), 1);
}

#[tokio::test]
async fn a_send_answers_200_once_the_owner_reports_it_sent() {
    let api = TestApi::start_with(|c| c.send_wait = Duration::from_secs(10)).await;
    let token = user_token("acme");
    running_session(&api, &token, "s1").await;
    let mut conn = api.redis().await;
    let _: () = conn.set(api.keys.lease("s1"), "w1:1").await.unwrap();
    // the owner's side: read the command, mark the record sent, publish message_sent
    let keys = api.keys.clone();
    let client = api.redis.client();
    let owner = tokio::spawn(async move {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let message_id =
            wa_tests::harness::wait_until("the send command", Duration::from_secs(10), || {
                let mut conn = conn.clone();
                let key = keys.commands("s1");
                async move {
                    let reply: redis::streams::StreamRangeReply =
                        conn.xrange_all(key).await.ok()?;
                    let cmd = reply.ids.iter().find_map(|e| e.get::<String>("cmd"))?;
                    match Command::from_json(&cmd).ok()? {
                        Command::Send { message_id, .. } => Some(message_id),
                        _ => None,
                    }
                }
            })
            .await;
        let _: () = conn
            .hset(keys.message("s1", &message_id), "status", "sent")
            .await
            .unwrap();
        let data =
            json!({"sessionId": "s1", "messageId": message_id, "status": "sent"}).to_string();
        let _: String = PUBLISH_EVENT
            .key(keys.lease("s1"))
            .key(keys.events("s1"))
            .arg("w1:1")
            .arg(keys.tenant_channel("acme"))
            .arg("s1")
            .arg("message_sent")
            .arg(data)
            .arg(EVENT_STREAM_MAXLEN)
            .invoke_async(&mut conn)
            .await
            .unwrap();
        message_id
    });
    let (status, body) = post(&api, "/send-message", &token, send_body("s1")).await;
    let message_id = owner.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "messageId": message_id, "message": "Message sent successfully"})
    );
}

#[tokio::test]
async fn publish_event_is_refused_without_the_lease() {
    let api = TestApi::start().await;
    let mut conn = api.redis().await;
    let _: () = conn.set(api.keys.lease("s1"), "w2:5").await.unwrap();
    let result: redis::RedisResult<String> = PUBLISH_EVENT
        .key(api.keys.lease("s1"))
        .key(api.keys.events("s1"))
        .arg("w1:4")
        .arg(api.keys.tenant_channel("acme"))
        .arg("s1")
        .arg("qr_code")
        .arg("{}")
        .arg(EVENT_STREAM_MAXLEN)
        .invoke_async(&mut conn)
        .await;
    assert!(result.unwrap_err().to_string().contains("fenced"));
    let len: u64 = conn.xlen(api.keys.events("s1")).await.unwrap();
    assert_eq!(len, 0);
}

#[tokio::test]
async fn sends_to_unknown_stopped_or_logged_out_sessions_are_refused() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    let (status, body) = post(&api, "/send-message", &token, send_body("ghost")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );

    running_session(&api, &token, "s1").await;
    post(&api, "/disconnect", &token, json!({"sessionId": "s1"})).await;
    let (status, body) = post(&api, "/send-message", &token, send_body("s1")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("session_not_running"))
    );

    running_session(&api, &token, "s2").await;
    let mut conn = api.redis().await;
    let _: () = conn
        .hset(api.keys.session("s2"), "status", "logged_out")
        .await
        .unwrap();
    let (status, body) = post(&api, "/send-message", &token, send_body("s2")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("session_logged_out"))
    );
    assert!(send_commands(&api, "s1").await.is_empty());
    assert!(send_commands(&api, "s2").await.is_empty());
}

#[tokio::test]
async fn bad_send_input_is_refused_with_clear_errors() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    running_session(&api, &token, "s1").await;
    let cases = [
        (
            json!({"sessionId": "s1", "message": "x"}),
            400,
            "validation_failed",
        ),
        (
            json!({"sessionId": "s1", "phoneNumber": "123", "message": "x"}),
            400,
            "validation_failed",
        ),
        (
            json!({"sessionId": "s1", "phoneNumber": "15550002222"}),
            400,
            "validation_failed",
        ),
        (
            json!({"sessionId": "s1", "phoneNumber": "15550002222", "message": "   "}),
            400,
            "validation_failed",
        ),
        (
            json!({"sessionId": "s1", "phoneNumber": "15550002222", "message": "x".repeat(65_537)}),
            400,
            "validation_failed",
        ),
        (
            json!({"sessionId": "s1", "phoneNumber": 15550002222u64, "message": "x"}),
            400,
            "validation_failed",
        ),
        (
            json!({"sessionId": "s1", "phoneNumber": "15550002222", "message": "x", "clientMessageId": ""}),
            400,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let (got, resp) = post(&api, "/send-message", &token, body.clone()).await;
        assert_eq!(
            (got, resp["error"]["code"].as_str()),
            (status, Some(code)),
            "{}",
            &body.to_string()[..80.min(body.to_string().len())]
        );
    }
    // exactly at the limit is fine
    let (status, _) = post(
        &api,
        "/send-message",
        &token,
        json!({"sessionId": "s1", "phoneNumber": "15550002222", "message": "é".repeat(65_536)}),
    )
    .await;
    assert_eq!(status, 202);

    let raw = |body: &'static str, ctype: &'static str| {
        api.http
            .post(api.url("/send-message"))
            .bearer_auth(&token)
            .header("content-type", ctype)
            .body(body)
    };
    let r = raw("{\"sessionId\": ", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );
    let r = raw("{}", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "unsupported_media_type"
    );
    let big = format!(
        "{{\"sessionId\":\"s1\",\"phoneNumber\":\"15550002222\",\"message\":\"{}\"}}",
        "x".repeat(300 * 1024)
    );
    let r = api
        .http
        .post(api.url("/send-message"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );
    assert_eq!(send_commands(&api, "s1").await.len(), 1);
}

#[tokio::test]
async fn per_session_send_rate_limit_answers_429() {
    let api = TestApi::start_with(|c| {
        c.session_send_limit = 2;
        c.send_wait = Duration::ZERO;
    })
    .await;
    let token = user_token("acme");
    running_session(&api, &token, "s1").await;
    for _ in 0..2 {
        let (status, _) = post(&api, "/send-message", &token, send_body("s1")).await;
        assert_eq!(status, 202);
    }
    let r = api
        .http
        .post(api.url("/send-message"))
        .bearer_auth(&token)
        .json(&send_body("s1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "rate_limited"
    );
    assert_eq!(send_commands(&api, "s1").await.len(), 2);
}

#[tokio::test]
async fn unknown_message_ids_are_404() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    for id in [
        "nope",
        "0190f3a0-0000-7000-8000-000000000000",
        "a%20b",
        "%F0%9F%98%80",
    ] {
        let r = api
            .http
            .get(api.url(&format!("/messages/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{id}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "message_not_found"
        );
    }
}

#[tokio::test]
async fn a_send_rings_the_owners_doorbell_and_an_unowned_session_rings_nobody() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    running_session(&api, &token, "s1").await;
    let mut conn = api.redis().await;
    let inbox = api.keys.worker_inbox("worker-7");

    // No owner yet: the command is written, no inbox appears.
    let (status, _) = post(&api, "/send-message", &token, send_body("s1")).await;
    assert_eq!(status, 202);
    let exists: bool = conn.exists(&inbox).await.unwrap();
    assert!(!exists);

    // Owned by worker-7 (epoch 3): the send names the session in worker-7's inbox, which expires.
    let _: () = conn.set(api.keys.lease("s1"), "worker-7:3").await.unwrap();
    let (status, _) = post(&api, "/send-message", &token, send_body("s1")).await;
    assert_eq!(status, 202);
    let rung: redis::streams::StreamRangeReply = conn.xrange_all(&inbox).await.unwrap();
    let sessions: Vec<String> = rung
        .ids
        .iter()
        .filter_map(|e| e.get::<String>("session"))
        .collect();
    assert_eq!(sessions, vec!["s1".to_string()]);
    let ttl: i64 = conn.pttl(&inbox).await.unwrap();
    assert!(ttl > 0, "the inbox has no TTL ({ttl})");
    assert_eq!(send_commands(&api, "s1").await.len(), 2);

    // A disconnect is a command too.
    let (status, _) = post(&api, "/disconnect", &token, json!({"sessionId": "s1"})).await;
    assert_eq!(status, 200);
    let rung: redis::streams::StreamRangeReply = conn.xrange_all(&inbox).await.unwrap();
    assert_eq!(rung.ids.len(), 2);
}
