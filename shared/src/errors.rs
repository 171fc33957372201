//! Machine-readable error codes shared by the api's answers, WebSocket error frames and the
//! `last_error` of session records.

/// A stable snake_case code; clients switch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ValidationFailed,
    InvalidJson,
    Unauthorized,
    Forbidden,
    SessionNotFound,
    MessageNotFound,
    RouteNotFound,
    MethodNotAllowed,
    SessionNotRunning,
    SessionLoggedOut,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    RedisUnavailable,
    Internal,
    AuthStateCorrupt,
    QrTimeout,
    ReplayTruncated,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::InvalidJson => "invalid_json",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::SessionNotFound => "session_not_found",
            Self::MessageNotFound => "message_not_found",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::SessionNotRunning => "session_not_running",
            Self::SessionLoggedOut => "session_logged_out",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::RedisUnavailable => "redis_unavailable",
            Self::Internal => "internal_error",
            Self::AuthStateCorrupt => "auth_state_corrupt",
            Self::QrTimeout => "qr_timeout",
            Self::ReplayTruncated => "replay_truncated",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
