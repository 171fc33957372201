//! Minting HS256 tokens for local use and tests: `wa-api token --sub <tenant> [--role admin]
//! [--ttl <seconds>]` prints a token signed with `JWT_SECRET`.

use jsonwebtoken::{EncodingKey, Header, encode};
use wa_shared::claims::{Claims, Role};

/// Signs a token for `tenant` valid for `ttl_secs`.
pub fn mint(secret: &str, tenant: &str, role: Role, ttl_secs: u64) -> String {
    let claims = Claims {
        sub: tenant.to_owned(),
        role,
        exp: jsonwebtoken::get_current_timestamp() + ttl_secs,
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// Parses `--sub`, `--role`, `--ttl` and prints a token.
pub fn run_cli(args: &[String]) -> Result<String, String> {
    let mut sub = None;
    let mut role = Role::User;
    let mut ttl = 3600u64;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sub" | "--tenant" => sub = Some(value.clone()),
            "--role" => {
                role = match value.as_str() {
                    "admin" => Role::Admin,
                    "user" => Role::User,
                    _ => return Err("--role must be admin or user".into()),
                }
            }
            "--ttl" => {
                ttl = value
                    .parse()
                    .map_err(|_| "--ttl must be seconds".to_owned())?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let sub = sub.ok_or("--sub <tenant> is required")?;
    let secret = wa_shared::config::optional("JWT_SECRET").ok_or("JWT_SECRET is not set")?;
    Ok(mint(&secret, &sub, role, ttl))
}
