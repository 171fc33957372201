//! A typed HTTP client of the fake server's admin API, for test suites and benchmarks.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::StatsSnapshot;
use super::contacts::InboxEntry;

/// An admin answer that was not 2xx.
#[derive(Debug, thiserror::Error)]
#[error("admin API answered {status}: {message}")]
pub struct AdminRefusal {
    pub status: StatusCode,
    pub message: String,
}

/// Talks to `http://…/admin/…`.
#[derive(Clone)]
pub struct AdminClient {
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// `base` is the admin root, e.g. `http://127.0.0.1:PORT`.
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client");
        Self {
            base: base.into(),
            http,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            return Err(AdminRefusal { status, message }.into());
        }
        Ok(serde_json::from_value(body)?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The fake phone scans `qr` and links the device as `phone`; returns the device JID.
    pub async fn scan(&self, qr: &str, phone: &str) -> anyhow::Result<String> {
        let v: Value = self
            .call(
                self.http
                    .post(self.url("/admin/scan"))
                    .json(&json!({ "qr": qr, "phone": phone })),
            )
            .await?;
        Ok(v["jid"].as_str().unwrap_or_default().to_string())
    }

    /// Creates (or finds) the contact `phone`.
    pub async fn create_contact(&self, phone: &str) -> anyhow::Result<()> {
        let _: Value = self
            .call(
                self.http
                    .post(self.url("/admin/contacts"))
                    .json(&json!({ "phone": phone })),
            )
            .await?;
        Ok(())
    }

    /// The contact sends `text` to `to`; returns the message id.
    pub async fn contact_send(
        &self,
        contact: &str,
        to: &str,
        text: &str,
    ) -> anyhow::Result<String> {
        let v: Value = self
            .call(
                self.http
                    .post(self.url(&format!("/admin/contacts/{contact}/send")))
                    .json(&json!({ "to": to, "text": text })),
            )
            .await?;
        Ok(v["messageId"].as_str().unwrap_or_default().to_string())
    }

    /// What the contact received.
    pub async fn inbox(&self, contact: &str) -> anyhow::Result<Vec<InboxEntry>> {
        self.call(
            self.http
                .get(self.url(&format!("/admin/contacts/{contact}/inbox"))),
        )
        .await
    }

    /// The contact sends read receipts for `ids` from `from`.
    pub async fn mark_read(&self, contact: &str, from: &str, ids: &[String]) -> anyhow::Result<()> {
        let _: Value = self
            .call(
                self.http
                    .post(self.url(&format!("/admin/contacts/{contact}/read")))
                    .json(&json!({ "from": from, "messageIds": ids })),
            )
            .await?;
        Ok(())
    }

    /// Kicks the connected devices of `phone` (`restart`, `replaced`, `logged_out`, `drop`).
    pub async fn kick(&self, phone: &str, reason: &str) -> anyhow::Result<()> {
        let _: Value = self
            .call(
                self.http
                    .post(self.url(&format!("/admin/accounts/{phone}/kick")))
                    .json(&json!({ "reason": reason })),
            )
            .await?;
        Ok(())
    }

    pub async fn stats(&self) -> anyhow::Result<StatsSnapshot> {
        self.call(self.http.get(self.url("/admin/stats"))).await
    }
}
