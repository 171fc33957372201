//! JWT claims of API callers: `sub` is the tenant, `role` admin or user, `exp` required.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    #[default]
    User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Tenant id.
    pub sub: String,
    #[serde(default)]
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}
