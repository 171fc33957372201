//! Reading configuration from the environment: typed getters with defaults that fail with a message
//! naming the variable, and the settings both binaries share (Redis, logging).

use std::{env, fmt::Display, str::FromStr};

/// A configuration value that could not be used. The message names the variable and never echoes a
/// secret's value.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: &str, reason: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Loads a `.env` file from the working directory when one exists. Variables already set win.
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

/// The variable's value, or `None` when it is unset or empty.
pub fn optional(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The variable's value, or `default` when unset.
pub fn string_or(name: &str, default: &str) -> String {
    optional(name).unwrap_or_else(|| default.to_owned())
}

/// The variable parsed as `T`, or `default` when unset.
pub fn parse_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match optional(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| ConfigError::new(name, format!("cannot parse {raw:?}: {e}"))),
    }
}

/// The variable parsed as an integer within `min..=max`, or `default` when unset.
pub fn ranged_or(name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    let value = parse_or(name, default)?;
    if !(min..=max).contains(&value) {
        return Err(ConfigError::new(
            name,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(value)
}

/// Log verbosity, `LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// Log line format, `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Settings every process has: where Redis is, the key prefix, and logging.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub redis_url: String,
    pub redis_prefix: String,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
}

impl CommonConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let redis_url = string_or("REDIS_URL", "redis://127.0.0.1:6379");
        if !(redis_url.starts_with("redis://")
            || redis_url.starts_with("rediss://")
            || redis_url.starts_with("unix://"))
        {
            return Err(ConfigError::new(
                "REDIS_URL",
                "must start with redis://, rediss:// or unix://",
            ));
        }
        let redis_prefix = string_or("REDIS_PREFIX", "wa:");
        if redis_prefix.len() > 64 || redis_prefix.contains(char::is_whitespace) {
            return Err(ConfigError::new(
                "REDIS_PREFIX",
                "must be at most 64 characters without whitespace",
            ));
        }
        let log_level = match string_or("LOG_LEVEL", "info").to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            other => {
                return Err(ConfigError::new(
                    "LOG_LEVEL",
                    format!("must be error, warn, info or debug, got {other:?}"),
                ));
            }
        };
        let log_format = match string_or("LOG_FORMAT", "pretty")
            .to_ascii_lowercase()
            .as_str()
        {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("must be json or pretty, got {other:?}"),
                ));
            }
        };
        Ok(Self {
            redis_url,
            redis_prefix,
            log_level,
            log_format,
        })
    }

    /// Installs the global tracing subscriber. Our crates log at the configured level, dependencies
    /// one level quieter so that protocol chatter does not drown the gateway's own lines.
    pub fn init_tracing(&self) {
        let ours = self.log_level.as_str();
        let filter =
            format!("warn,wa_shared={ours},wa_api={ours},wa_worker={ours},wa_tests={ours}");
        let filter = tracing_subscriber::EnvFilter::new(filter);
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        let _ = match self.log_format {
            LogFormat::Json => builder.json().try_init(),
            LogFormat::Pretty => builder.try_init(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_variables_take_their_default() {
        assert_eq!(ranged_or("WA_TEST_SURELY_UNSET", 5, 1, 10).unwrap(), 5);
        assert_eq!(string_or("WA_TEST_SURELY_UNSET", "x"), "x");
    }

    #[test]
    fn a_default_outside_the_range_is_refused_with_the_variable_named() {
        let err = ranged_or("WA_TEST_SURELY_UNSET", 0, 1, 10).unwrap_err();
        assert_eq!(err.variable, "WA_TEST_SURELY_UNSET");
        assert!(err.to_string().contains("between 1 and 10"));
    }
}
