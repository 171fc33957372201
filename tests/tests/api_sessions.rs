//! REST session routes against a real Redis: exact success shapes, the records and claims/commands
//! written for workers, tenant isolation, and the state rules of connect/disconnect/reconnect/delete.

use std::collections::HashMap;

use redis::AsyncCommands;
use serde_json::{Value, json};
use wa_tests::harness::api::{SERVICE_TOKEN, TestApi, admin_token, user_token};

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

async fn get(api: &TestApi, path: &str, token: &str) -> (u16, Value) {
    let r = api
        .http
        .get(api.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn connect(api: &TestApi, token: &str, sid: &str) -> (u16, Value) {
    post(
        api,
        "/connect",
        token,
        json!({"sessionId": sid, "sessionName": "Sales", "phoneNumber": "+1 555 000 1111"}),
    )
    .await
}

async fn stream_entries(api: &TestApi, key: &str) -> Vec<HashMap<String, String>> {
    let mut conn = api.redis().await;
    let reply: redis::streams::StreamRangeReply = conn.xrange_all(key).await.unwrap();
    reply
        .ids
        .into_iter()
        .map(|e| {
            e.map
                .into_iter()
                .map(|(k, v)| (k, redis::from_redis_value::<String>(v).unwrap()))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn connect_creates_the_session_record_and_queues_a_claim() {
    let api = TestApi::start().await;
    let (status, body) = connect(&api, &user_token("acme"), "lead-1").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": true, "sessionId": "lead-1", "message": "WhatsApp connection initiated"})
    );
    let mut conn = api.redis().await;
    let record: HashMap<String, String> = conn.hgetall(api.keys.session("lead-1")).await.unwrap();
    assert_eq!(record["tenant"], "acme");
    assert_eq!(record["desired"], "running");
    assert_eq!(record["status"], "connecting");
    assert_eq!(record["phone"], "15550001111");
    assert_eq!(record["name"], "Sales");
    let claims = stream_entries(&api, &api.keys.claims()).await;
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["session"], "lead-1");
    let groups: Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(api.keys.claims())
        .query_async::<redis::Value>(&mut conn)
        .await
        .map(|v| json!(format!("{v:?}")))
        .unwrap();
    assert!(
        groups.to_string().contains("workers"),
        "claims group exists: {groups}"
    );
    let running: bool = conn
        .sismember(api.keys.running_sessions(), "lead-1")
        .await
        .unwrap();
    assert!(running);
}

#[tokio::test]
async fn connecting_a_running_session_again_creates_nothing_new() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    connect(&api, &token, "s1").await;
    let (status, body) = connect(&api, &token, "s1").await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "WhatsApp connection initiated");
    let (_, list) = get(&api, "/sessions", &token).await;
    assert_eq!(list["total"], 1);
    // a live owner: the second connect must not queue another claim or command
    let mut conn = api.redis().await;
    let _: () = conn.set(api.keys.lease("s1"), "w1:1").await.unwrap();
    let claims_before = stream_entries(&api, &api.keys.claims()).await.len();
    connect(&api, &token, "s1").await;
    assert_eq!(
        stream_entries(&api, &api.keys.claims()).await.len(),
        claims_before
    );
    assert!(
        stream_entries(&api, &api.keys.commands("s1"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn session_status_has_the_contract_shape_and_the_pairing_qr() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    connect(&api, &token, "s1").await;
    let (status, body) = get(&api, "/session-status/s1", &token).await;
    assert_eq!(status, 200);
    for field in [
        "sessionId",
        "status",
        "sessionName",
        "phoneNumber",
        "createdAt",
        "qrCode",
    ] {
        assert!(body.get(field).is_some(), "missing {field}: {body}");
    }
    assert_eq!(body["status"], "connecting");
    assert_eq!(body["qrCode"], Value::Null);
    // a worker stores the QR sealed; the api shows it as a PNG data URL and raw
    let raw = "2@ref123,noise,identity,adv,1";
    let sealed = wa_shared::qr::seal(&api.keyring, &api.keys.session("s1"), raw);
    let mut conn = api.redis().await;
    let _: () = conn
        .hset(api.keys.session("s1"), "qr", sealed)
        .await
        .unwrap();
    let (_, body) = get(&api, "/session-status/s1", &token).await;
    assert_eq!(body["qr"], raw);
    assert!(
        body["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    // a tampered QR is not shown
    let _: () = conn
        .hset(api.keys.session("s1"), "qr", "AAAA")
        .await
        .unwrap();
    let (status, body) = get(&api, "/session-status/s1", &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["qrCode"], Value::Null);
}

#[tokio::test]
async fn tenants_see_only_their_own_sessions() {
    let api = TestApi::start().await;
    let acme = user_token("acme");
    let globex = user_token("globex");
    connect(&api, &acme, "a1").await;
    connect(&api, &acme, "a2").await;
    connect(&api, &globex, "g1").await;

    let (_, list) = get(&api, "/sessions", &acme).await;
    assert_eq!(list["total"], 2);
    let ids: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1", "a2"]);
    for s in list["sessions"].as_array().unwrap() {
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{s}");
    }

    let (missing_status, missing) = get(&api, "/session-status/nope", &globex).await;
    let (foreign_status, foreign) = get(&api, "/session-status/a1", &globex).await;
    assert_eq!((missing_status, foreign_status), (404, 404));
    assert_eq!(missing, foreign, "another tenant's session looks missing");
    assert_eq!(foreign["error"]["code"], "session_not_found");

    for (path, body) in [
        ("/disconnect", json!({"sessionId": "a1"})),
        (
            "/send-message",
            json!({"sessionId": "a1", "phoneNumber": "15550002222", "message": "x"}),
        ),
    ] {
        let (status, _) = post(&api, path, &globex, body).await;
        assert_eq!(status, 404, "{path}");
    }
    let r = api
        .http
        .delete(api.url("/sessions/a1"))
        .bearer_auth(&globex)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // a foreign tenant cannot take over the id either
    let (status, _) = connect(&api, &globex, "a1").await;
    assert_eq!(status, 409);

    let (_, all) = get(&api, "/sessions", &admin_token("ops")).await;
    assert_eq!(all["total"], 3);
    let (_, filtered) = get(&api, "/sessions?tenant=globex", &admin_token("ops")).await;
    assert_eq!(filtered["total"], 1);
    let (_, service) = get(&api, "/sessions", SERVICE_TOKEN).await;
    assert_eq!(service["total"], 3);
    let (status, _) = get(&api, "/session-status/a1", SERVICE_TOKEN).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn disconnect_stops_and_tells_a_live_owner() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    connect(&api, &token, "s1").await;
    connect(&api, &token, "s2").await;
    let mut conn = api.redis().await;
    let _: () = conn.set(api.keys.lease("s2"), "w1:1").await.unwrap();

    let (status, body) = post(&api, "/disconnect", &token, json!({"sessionId": "s1"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": true, "message": "Session disconnected successfully"})
    );
    let record: HashMap<String, String> = conn.hgetall(api.keys.session("s1")).await.unwrap();
    assert_eq!(record["desired"], "stopped");
    assert_eq!(
        record["status"], "disconnected",
        "no owner: the api marks it"
    );
    assert!(
        stream_entries(&api, &api.keys.commands("s1"))
            .await
            .is_empty()
    );

    post(&api, "/disconnect", &token, json!({"sessionId": "s2"})).await;
    let cmds = stream_entries(&api, &api.keys.commands("s2")).await;
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["kind"], "disconnect");
    let running: bool = conn
        .sismember(api.keys.running_sessions(), "s2")
        .await
        .unwrap();
    assert!(!running);

    let (status, body) = post(&api, "/disconnect", &token, json!({"sessionId": "zzz"})).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "session_not_found");
}

#[tokio::test]
async fn reconnect_restarts_a_stopped_session_and_pokes_a_running_one() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    connect(&api, &token, "s1").await;
    post(&api, "/disconnect", &token, json!({"sessionId": "s1"})).await;
    let claims_before = stream_entries(&api, &api.keys.claims()).await.len();

    let (status, body) = post(&api, "/reconnect", &token, json!({"sessionId": "s1"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": true, "sessionId": "s1", "message": "WhatsApp reconnection initiated"})
    );
    let mut conn = api.redis().await;
    let desired: String = conn.hget(api.keys.session("s1"), "desired").await.unwrap();
    assert_eq!(desired, "running");
    assert_eq!(
        stream_entries(&api, &api.keys.claims()).await.len(),
        claims_before + 1
    );

    let _: () = conn.set(api.keys.lease("s1"), "w1:3").await.unwrap();
    post(&api, "/reconnect", &token, json!({"sessionId": "s1"})).await;
    let cmds = stream_entries(&api, &api.keys.commands("s1")).await;
    assert_eq!(cmds.last().unwrap()["kind"], "reconnect");
}

#[tokio::test]
async fn delete_hides_the_session_and_queues_a_logout() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    connect(&api, &token, "s1").await;
    let r = api
        .http
        .delete(api.url("/sessions/s1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true);
    let (status, _) = get(&api, "/session-status/s1", &token).await;
    assert_eq!(status, 404);
    let (_, list) = get(&api, "/sessions", &token).await;
    assert_eq!(list["total"], 0);
    let cmds = stream_entries(&api, &api.keys.commands("s1")).await;
    assert_eq!(cmds.last().unwrap()["kind"], "logout");
    let claims = stream_entries(&api, &api.keys.claims()).await;
    assert_eq!(
        claims.last().unwrap()["session"],
        "s1",
        "no owner: a worker must claim it to log out"
    );
    let r = api
        .http
        .delete(api.url("/sessions/s1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn bad_connect_input_is_a_400_that_writes_nothing() {
    let api = TestApi::start().await;
    let token = user_token("acme");
    for body in [
        json!({}),
        json!({"sessionId": ""}),
        json!({"sessionId": "has space"}),
        json!({"sessionId": "x".repeat(65)}),
        json!({"sessionId": "ok", "phoneNumber": "12"}),
        json!({"sessionId": "ok", "phoneNumber": "abc"}),
        json!({"sessionId": 5}),
        json!({"sessionId": "ok", "sessionName": "x".repeat(300)}),
    ] {
        let (status, resp) = post(&api, "/connect", &token, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp["success"], false);
        assert_eq!(resp["error"]["code"], "validation_failed", "{body}");
        assert!(!resp["error"]["message"].as_str().unwrap().is_empty());
    }
    let mut conn = api.redis().await;
    let n: u64 = conn.scard(api.keys.all_sessions()).await.unwrap();
    assert_eq!(n, 0);
    // unknown fields are ignored
    let (status, _) = post(
        &api,
        "/connect",
        &token,
        json!({"sessionId": "ok", "extra": [1, 2]}),
    )
    .await;
    assert_eq!(status, 200);
}
