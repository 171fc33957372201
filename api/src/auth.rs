//! Who is calling: bearer JWTs (HS256 with `JWT_SECRET`, RS256/ES256 against `JWT_PUBLIC_KEYS`) whose
//! `sub` is the tenant, and the static `WHATSAPP_SERVICE_TOKEN` as an admin credential. `Caller` is the
//! axum extractor handlers take; `Authenticator::verify` is also used by the WebSocket handshake.

use std::{path::Path, sync::Arc};

use axum::{extract::FromRequestParts, http::request::Parts};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use wa_shared::claims::{Claims, Role};

use crate::{error::ApiError, state::AppState};

/// Tenant of callers that use the static service token.
pub const SERVICE_TENANT: &str = "default";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this caller may see or act on a session of `tenant`.
    pub fn may_access(&self, tenant: &str) -> bool {
        self.is_admin() || self.tenant == tenant
    }
}

/// A verification key with the algorithms it accepts.
struct VerifyingKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// Verifies bearer credentials. Built once at start from the configuration.
#[derive(Clone)]
pub struct Authenticator {
    keys: Arc<Vec<VerifyingKey>>,
    service_token: Option<Arc<str>>,
}

#[derive(Debug, thiserror::Error)]
#[error("JWT_PUBLIC_KEYS: {path}: {reason}")]
pub struct KeyLoadError {
    path: String,
    reason: String,
}

impl Authenticator {
    pub fn new(
        jwt_secret: Option<&str>,
        public_key_files: &[impl AsRef<Path>],
        service_token: Option<&str>,
    ) -> Result<Self, KeyLoadError> {
        let mut keys = Vec::new();
        if let Some(secret) = jwt_secret {
            keys.push(VerifyingKey {
                key: DecodingKey::from_secret(secret.as_bytes()),
                algorithms: vec![Algorithm::HS256],
            });
        }
        for path in public_key_files {
            let path = path.as_ref();
            let failure = |reason: String| KeyLoadError {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| failure(e.to_string()))?;
            let key = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                VerifyingKey {
                    key,
                    algorithms: vec![Algorithm::RS256],
                }
            } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                VerifyingKey {
                    key,
                    algorithms: vec![Algorithm::ES256],
                }
            } else {
                return Err(failure("not an RSA or EC public key in PEM".into()));
            };
            keys.push(key);
        }
        Ok(Self {
            keys: Arc::new(keys),
            service_token: service_token.map(Arc::from),
        })
    }

    /// Verifies a bearer token: the service token, or a JWT signed by one of our keys with an
    /// algorithm that key allows, not expired, with a non-empty `sub`.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        if let Some(expected) = &self.service_token
            && constant_time_eq(token.as_bytes(), expected.as_bytes())
        {
            return Ok(Caller {
                tenant: SERVICE_TENANT.to_owned(),
                role: Role::Admin,
            });
        }
        let header = decode_header(token)
            .map_err(|_| ApiError::unauthorized("The bearer token is not a valid JWT."))?;
        for candidate in self.keys.iter() {
            if !candidate.algorithms.contains(&header.alg) {
                continue;
            }
            let mut validation = Validation::new(header.alg);
            validation.algorithms = candidate.algorithms.clone();
            validation.set_required_spec_claims(&["exp", "sub"]);
            validation.leeway = 5;
            validation.validate_aud = false;
            match decode::<Claims>(token, &candidate.key, &validation) {
                Ok(data) => {
                    let claims = data.claims;
                    if claims.sub.trim().is_empty() || claims.sub.len() > 128 {
                        return Err(ApiError::unauthorized(
                            "The token's sub (tenant) must be 1-128 characters.",
                        ));
                    }
                    return Ok(Caller {
                        tenant: claims.sub,
                        role: claims.role,
                    });
                }
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    if matches!(e.kind(), ErrorKind::ExpiredSignature) {
                        return Err(ApiError::unauthorized("The token has expired."));
                    }
                }
            }
        }
        Err(ApiError::unauthorized(
            "The bearer token is invalid: bad signature, unsupported algorithm or missing claims.",
        ))
    }

    /// Verifies an `Authorization` header value (`Bearer <token>`).
    pub fn verify_header(&self, value: Option<&str>) -> Result<Caller, ApiError> {
        let value = value.ok_or_else(|| {
            ApiError::unauthorized("Send an Authorization: Bearer <token> header.")
        })?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("The Authorization header must be 'Bearer <token>'.")
            })?;
        self.verify(token)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = state.auth.verify_header(header)?;
        crate::rate_limit::check_tenant(state, &caller.tenant).await?;
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    const SECRET: &str = "unit-test-secret-0123456789";

    fn auth() -> Authenticator {
        Authenticator::new(
            Some(SECRET),
            &[] as &[&Path],
            Some("service-token-0123456789"),
        )
        .unwrap()
    }

    fn token(claims: serde_json::Value, alg: Algorithm, secret: &str) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn in_an_hour() -> u64 {
        jsonwebtoken::get_current_timestamp() + 3600
    }

    #[test]
    fn a_valid_hs256_token_names_the_tenant() {
        let t = token(
            serde_json::json!({"sub":"acme","exp":in_an_hour()}),
            Algorithm::HS256,
            SECRET,
        );
        let caller = auth().verify(&t).unwrap();
        assert_eq!(caller.tenant, "acme");
        assert_eq!(caller.role, Role::User);
    }

    #[test]
    fn bad_tokens_are_refused() {
        let a = auth();
        let wrong_secret = token(
            serde_json::json!({"sub":"acme","exp":in_an_hour()}),
            Algorithm::HS256,
            "another-secret-0123456789",
        );
        let expired = token(
            serde_json::json!({"sub":"acme","exp":1000}),
            Algorithm::HS256,
            SECRET,
        );
        let no_exp = token(serde_json::json!({"sub":"acme"}), Algorithm::HS256, SECRET);
        let hs512 = token(
            serde_json::json!({"sub":"acme","exp":in_an_hour()}),
            Algorithm::HS512,
            SECRET,
        );
        // alg "none": header {"alg":"none","typ":"JWT"}, no signature
        let none =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhY21lIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        for t in [
            wrong_secret,
            expired,
            no_exp,
            hs512,
            none.to_owned(),
            "garbage".into(),
        ] {
            let err = a.verify(&t).unwrap_err();
            assert_eq!(err.status, 401, "{t}");
        }
    }

    #[test]
    fn the_service_token_is_an_admin() {
        let caller = auth().verify("service-token-0123456789").unwrap();
        assert!(caller.is_admin());
        assert!(caller.may_access("anyone"));
    }
}
