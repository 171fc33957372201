//! A WebSocket test client on tokio-tungstenite: JSON frames in and out, every read bounded by a
//! deadline, close codes observable.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the server ended the socket with.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Close(u16),
    /// Closed without a close frame.
    Dropped,
}

impl WsClient {
    /// Connects to `url`, with an `Authorization: Bearer` header when `bearer` is given.
    pub async fn connect(url: &str, bearer: Option<&str>) -> Self {
        let mut request = url.into_client_request().expect("ws url");
        if let Some(token) = bearer {
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        let (stream, _) = connect_async(request).await.expect("websocket connects");
        Self { stream }
    }

    /// The underlying stream, for readers that handle frames themselves (benchmarks).
    pub fn into_stream(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.stream
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("frame sent");
    }

    /// The next JSON frame within `deadline`; panics on timeout or close.
    pub async fn next_json(&mut self, deadline: Duration) -> Value {
        match self.next_json_or_end(deadline).await {
            Ok(v) => v,
            Err(end) => panic!("socket ended ({end:?}) while a frame was expected"),
        }
    }

    /// The next JSON frame, or how the socket ended.
    pub async fn next_json_or_end(&mut self, deadline: Duration) -> Result<Value, Ended> {
        let read = async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Text(t))) => {
                        return Ok(
                            serde_json::from_str(t.as_str()).expect("server frames are JSON")
                        );
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Err(frame
                            .map(|f| Ended::Close(f.code.into()))
                            .unwrap_or(Ended::Dropped));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Err(Ended::Dropped),
                }
            }
        };
        tokio::time::timeout(deadline, read)
            .await
            .expect("a frame within the deadline")
    }

    /// The next frame whose `event` is `name`, skipping others.
    pub async fn next_event(&mut self, name: &str, deadline: Duration) -> Value {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next_json(left).await;
            if frame["event"] == name {
                return frame;
            }
        }
    }

    /// Reads until the socket ends and returns how.
    pub async fn until_end(&mut self, deadline: Duration) -> Ended {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if let Err(end) = self.next_json_or_end(left).await {
                return end;
            }
        }
    }
}
