//! The keys of `bearertokenauth` and `basicauth`, validated into an [`Authenticator`].

use std::path::PathBuf;

use serde::Deserialize;

use super::{Authenticator, Secret};

/// `auth` of a server: `{authenticator: <extension id>}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRef {
    /// The id of a `bearertokenauth` or `basicauth` extension.
    pub authenticator: String,
}

/// `extensions.bearertokenauth`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerConfig {
    /// The token.
    #[serde(default)]
    pub token: Option<String>,
    /// A file holding the token, re-read when it changes.
    #[serde(default)]
    pub filename: Option<String>,
    /// The scheme before the token (default `Bearer`).
    #[serde(default)]
    pub scheme: Option<String>,
    /// Tokens of tenants, `tenant: token` (Vigil's key): a request with one of them carries
    /// that tenant's data (see `exporters::prometheus::tenants`); `token` and `filename` stay
    /// the implicit tenant's.
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, String>,
}

/// `extensions.basicauth`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// The users.
    #[serde(default)]
    pub htpasswd: Option<Htpasswd>,
    /// Each user is a tenant of the same name (Vigil's key; default false: every user sends
    /// and reads the implicit tenant's data).
    #[serde(default)]
    pub user_is_tenant: bool,
}

/// `basicauth.htpasswd`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Htpasswd {
    /// A file of `user:password` lines.
    #[serde(default)]
    pub file: Option<String>,
    /// `user:password` lines.
    #[serde(default)]
    pub inline: Option<String>,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl BearerConfig {
    /// The authenticator `id`. Errors start with the key.
    pub fn validate(&self, id: &str) -> Result<Authenticator, String> {
        let scheme = set(&self.scheme).unwrap_or("Bearer").to_owned();
        let mut tenants: Vec<(std::sync::Arc<str>, String)> = Vec::new();
        for (tenant, token) in &self.tenants {
            let token = token.trim();
            tenant_name(tenant).map_err(|e| format!("tenants: {e}"))?;
            if token.is_empty() {
                return Err(format!("tenants.{tenant}: the token is empty"));
            }
            if tenants.iter().any(|(_, t)| t == token) || set(&self.token) == Some(token) {
                return Err(format!("tenants.{tenant}: the token is given twice"));
            }
            tenants.push((tenant.as_str().into(), token.to_owned()));
        }
        match (set(&self.token), set(&self.filename)) {
            (Some(_), Some(_)) => Err("token: set together with filename; use one".to_owned()),
            (None, None) if tenants.is_empty() => {
                Err("token: required (or filename, or tenants)".to_owned())
            }
            (token, file) => Authenticator::bearer(
                id,
                scheme,
                token.map(str::to_owned),
                file.map(PathBuf::from),
                tenants,
            ),
        }
    }
}

impl BasicConfig {
    /// The authenticator `id`. Errors start with the key.
    pub fn validate(&self, id: &str) -> Result<Authenticator, String> {
        let htpasswd = self
            .htpasswd
            .as_ref()
            .ok_or("htpasswd: required (file and/or inline)")?;
        let mut users = Vec::new();
        if let Some(path) = set(&htpasswd.file) {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("htpasswd.file: cannot read {path}: {e}"))?;
            parse(&text, "htpasswd.file", &mut users)?;
        }
        if let Some(text) = set(&htpasswd.inline) {
            parse(text, "htpasswd.inline", &mut users)?;
        }
        if users.is_empty() {
            return Err("htpasswd: no user (file and inline are empty)".to_owned());
        }
        if self.user_is_tenant {
            for (user, _) in &users {
                tenant_name(user).map_err(|e| format!("user_is_tenant: {e}"))?;
            }
        }
        Ok(Authenticator::basic(id, users, self.user_is_tenant))
    }
}

/// A tenant name: 1 to 150 letters, digits, `-`, `_` or `.`, so that it is a valid HTTP header
/// value and a tenant id for Mimir, Cortex and Thanos (`X-Scope-OrgID`).
fn tenant_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 150
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a tenant name (1 to 150 letters, digits, '-', '_' or '.')"
        ))
    }
}

/// `user:password` lines; `#` comments and blank lines are skipped.
fn parse(text: &str, key: &str, users: &mut Vec<(String, Secret)>) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, password) = line
            .split_once(':')
            .ok_or_else(|| format!("{key}: line {} is not user:password", n + 1))?;
        let secret = if ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|p| password.starts_with(p))
        {
            Secret::Bcrypt(password.to_owned())
        } else if password.starts_with('$') || password.starts_with("{SHA}") {
            return Err(format!(
                "{key}: line {}: only clear-text and bcrypt (htpasswd -B) passwords are supported",
                n + 1
            ));
        } else {
            Secret::Plain(password.to_owned())
        };
        users.push((user.to_owned(), secret));
    }
    Ok(())
}

/// Standard base64 with padding, as `Authorization: Basic` carries it.
pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    Some(out)
}
