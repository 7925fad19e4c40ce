//! RDS IAM database authentication tokens, signed as `aws rds generate-db-auth-token` signs
//! them: a SigV4 presigned `GET https://HOST:PORT/?Action=connect&DBUser=USER` for the
//! service `rds-db`, valid 900 seconds, written without its `https://`. The token is the
//! password; RDS reads it with the `mysql_clear_password` plugin, so it must travel over TLS
//! (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html,
//! https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.DBAccounts.html).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::Access;
use super::clients::Clients;

/// How long a token is accepted after it is signed: RDS takes tokens for 15 minutes.
pub const LIFETIME: Duration = Duration::from_secs(900);

/// What a token is signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFor<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub region: &'a str,
}

/// Percent-encoding of a query component as SigV4 wants it (RFC 3986 section 2.3: every
/// byte but the unreserved characters), the same as botocore's `percent_encode`.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token for `to`, signed with `creds` at `at`. Parameters stand in the order the AWS
/// CLI writes them (the operation's, then the signing ones, the signature last), so the two
/// tokens can be compared as strings.
pub fn sign_token(to: &TokenFor<'_>, creds: Credentials, at: SystemTime) -> Result<String, String> {
    let identity: Identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(to.region)
        .name("rds-db")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign: {e}"))?
        .into();
    let base = format!(
        "{}:{}/?Action=connect&DBUser={}",
        to.host,
        to.port,
        encode(to.user)
    );
    let url = format!("https://{base}");
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("cannot sign: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("cannot sign: {e}"))?
        .into_parts();
    let (_, query) = instructions.into_parts();
    let get = |name: &str| {
        query
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    };
    let mut token = base;
    let mut order = vec![
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ];
    order.retain(|n| get(n).is_some());
    for name in order {
        token.push('&');
        token.push_str(name);
        token.push('=');
        token.push_str(&encode(get(name).unwrap_or_default()));
    }
    Ok(token)
}

/// A token signed now with the credentials of the SDK's default provider chain for
/// `to.region` (environment, profile, web identity, ECS or EC2 instance role), as the AWS
/// sources get theirs. Errors name no credential.
pub async fn token(clients: &Clients, to: &TokenFor<'_>) -> Result<String, String> {
    let access = Access {
        region: to.region.to_owned(),
        endpoint_url: None,
        role_arn: None,
    };
    let config = clients.sdk_config(&access).await;
    let provider = config
        .credentials_provider()
        .ok_or("no AWS credentials provider is configured")?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| format!("no AWS credentials for the IAM token: {e}"))?;
    sign_token(to, creds, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_for_fixed_inputs() {
        // AWS's documented example access key pair (IAM user guide, "Managing access keys").
        let creds = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01
        let to = TokenFor {
            host: "rdsmysql.123456789012.us-west-2.rds.amazonaws.com",
            port: 3306,
            user: "jane_doe",
            region: "us-west-2",
        };
        let t = sign_token(&to, creds.clone(), at).unwrap();
        assert!(
            t.starts_with(
                "rdsmysql.123456789012.us-west-2.rds.amazonaws.com:3306/?Action=connect&DBUser=jane_doe\
                 &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Fus-west-2%2Frds-db%2Faws4_request\
                 &X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature="
            ),
            "{t}"
        );
        let sig = t.rsplit_once("X-Amz-Signature=").unwrap().1;
        assert_eq!(sig.len(), 64);
        assert!(sig.bytes().all(|b| b.is_ascii_hexdigit()));
        // Deterministic, and a session token comes before the signature.
        assert_eq!(sign_token(&to, creds, at).unwrap(), t);
        let session = Credentials::new("AKID", "SECRET", Some("tok/en=".into()), None, "test");
        let t = sign_token(&to, session, at).unwrap();
        assert!(
            t.contains("&X-Amz-Security-Token=tok%2Fen%3D&X-Amz-Signature="),
            "{t}"
        );
    }

    #[test]
    fn users_are_percent_encoded() {
        assert_eq!(encode("a b/c~d_e.f-g"), "a%20b%2Fc~d_e.f-g");
    }
}
