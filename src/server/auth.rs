//! Finding the presented API key and turning it into a caller (or a 401/403).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::config::{presented_key, AuthStyle, ServerProfile};
use super::faults::FaultSet;
use super::keys::{Access, AccountId, KeyRing, Mode};
use super::response::{ApiError, READ_ONLY, REVOKED};

/// An authenticated caller, handed to handlers as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller {
    pub account: AccountId,
    pub mode: Mode,
}

/// Why a request was refused before reaching its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No usable key, or one the server never issued (401).
    Unauthorized { key_was_presented: bool },
    /// A revoked or expired key (403).
    Revoked,
    /// A read-only key attempting a write (403).
    ReadOnly,
}

impl Refusal {
    pub fn into_response(self, profile: ServerProfile) -> Response {
        match self {
            Refusal::Unauthorized { key_was_presented } => unauthorized(profile, key_was_presented),
            Refusal::Revoked => ApiError::new(StatusCode::FORBIDDEN, REVOKED).into_response(),
            Refusal::ReadOnly => ApiError::new(StatusCode::FORBIDDEN, READ_ONLY).into_response(),
        }
    }
}

/// Checks the presented key against the ring.
pub fn authenticate(
    profile: ServerProfile,
    keys: &KeyRing,
    faults: &FaultSet,
    headers: &HeaderMap,
    is_write: bool,
) -> Result<Caller, Refusal> {
    let styles: Vec<AuthStyle> = profile
        .auth_styles()
        .iter()
        .copied()
        .filter(|style| faults.accepts(*style))
        .collect();
    let presented = presented_key(headers, &styles);
    let Some(info) = presented.and_then(|key| keys.lookup(key)) else {
        return Err(Refusal::Unauthorized {
            key_was_presented: presented.is_some(),
        });
    };
    match info.access {
        Access::Revoked if faults.revoked_looks_unknown() => Err(Refusal::Unauthorized {
            key_was_presented: true,
        }),
        Access::Revoked => Err(Refusal::Revoked),
        Access::ReadOnly if is_write => Err(Refusal::ReadOnly),
        _ => Ok(Caller {
            account: info.account,
            mode: info.mode,
        }),
    }
}

/// 401 with a `WWW-Authenticate` challenge in the profile's scheme (RFC 6750 §3: no error
/// code when no credentials were sent, `invalid_token` when they were).
fn unauthorized(profile: ServerProfile, key_was_presented: bool) -> Response {
    let scheme = match profile.auth_styles()[0] {
        AuthStyle::Bearer => "Bearer",
        AuthStyle::XApiKey if profile.auth_styles().contains(&AuthStyle::Bearer) => "Bearer",
        AuthStyle::XApiKey => "ApiKey",
        AuthStyle::ApiKeyScheme => "apikey",
    };
    let challenge = if key_was_presented {
        format!("{scheme} realm=\"tollgate\", error=\"invalid_token\"")
    } else {
        format!("{scheme} realm=\"tollgate\"")
    };
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, profile.unauthorized_message()).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).expect("challenge is ASCII"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn each_style_finds_its_key_and_only_its_key() {
        let h = headers(&[("authorization", "bearer abc")]);
        assert_eq!(presented_key(&h, &[AuthStyle::Bearer]), Some("abc"));
        assert_eq!(presented_key(&h, &[AuthStyle::ApiKeyScheme]), None);
        assert_eq!(presented_key(&h, &[AuthStyle::XApiKey]), None);
        let h = headers(&[("authorization", "apikey  xyz ")]);
        assert_eq!(presented_key(&h, &[AuthStyle::ApiKeyScheme]), Some("xyz"));
        let h = headers(&[("x-api-key", "k1")]);
        assert_eq!(
            presented_key(&h, &[AuthStyle::Bearer, AuthStyle::XApiKey]),
            Some("k1")
        );
        let h = headers(&[("authorization", "Bearer")]);
        assert_eq!(presented_key(&h, &[AuthStyle::Bearer]), None);
    }
}
