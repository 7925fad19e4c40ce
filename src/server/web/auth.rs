//! HTTP basic authentication (RFC 7617) against bcrypt hashes: reading the credentials, the
//! decision, and a cache of verified passwords so that bcrypt's deliberate cost is paid once
//! per (user, hash, password), not at every scrape.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use axum::http::HeaderValue;
use base64::Engine;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// Why a request was refused: the `reason` label of `headroom_web_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denied {
    /// No `Authorization` header, or another scheme than Basic.
    Missing,
    /// Basic, but not base64 of `user:password` in UTF-8.
    Malformed,
    /// A user not in `basic_auth_users`.
    UnknownUser,
    /// A known user with a password that does not match its hash.
    WrongPassword,
}

impl Denied {
    pub const ALL: [Denied; 4] = [
        Denied::Missing,
        Denied::Malformed,
        Denied::UnknownUser,
        Denied::WrongPassword,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Denied::Missing => "missing",
            Denied::Malformed => "malformed",
            Denied::UnknownUser => "unknown_user",
            Denied::WrongPassword => "wrong_password",
        }
    }
}

/// The user and password of an `Authorization: Basic` header (RFC 7617 section 2: the
/// scheme is case-insensitive; the user-id ends at the first colon).
pub fn credentials(header: Option<&HeaderValue>) -> Result<(String, String), Denied> {
    let value = header
        .ok_or(Denied::Missing)?
        .to_str()
        .map_err(|_| Denied::Malformed)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(Denied::Missing)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Denied::Missing);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| Denied::Malformed)?;
    let text = String::from_utf8(bytes).map_err(|_| Denied::Malformed)?;
    let (user, pass) = text.split_once(':').ok_or(Denied::Malformed)?;
    Ok((user.to_owned(), pass.to_owned()))
}

/// How many verified (user, hash, password) digests are kept; past it the cache starts over.
const CACHE_LIMIT: usize = 1024;

/// The users of one web config and what has been verified against them.
#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// SHA-256 of user, hash and password of each success: the passwords are not kept.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// A hash of the users' highest cost, verified against for an unknown user so that the
    /// answer takes about as long as for a known one.
    dummy: OnceLock<String>,
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        BasicAuth {
            users,
            verified: Mutex::new(HashSet::new()),
            dummy: OnceLock::new(),
        }
    }

    /// Whether any user is configured (else every request passes).
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    fn digest(user: &str, hash: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [user, hash, password] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    /// Whether `password` is `user`'s. Blocking: a cache miss runs bcrypt (tens of
    /// milliseconds at cost 10), so callers run it off the async threads.
    pub fn check(&self, user: &str, password: &str) -> Result<(), Denied> {
        let Some(hash) = self.users.get(user) else {
            let dummy = self.dummy.get_or_init(|| {
                let cost = self
                    .users
                    .values()
                    .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
                    .map(|p| p.get_cost())
                    .max()
                    .unwrap_or(bcrypt::DEFAULT_COST);
                bcrypt::hash("headroom: no such user", cost).unwrap_or_default()
            });
            let _ = bcrypt::verify(password, dummy);
            return Err(Denied::UnknownUser);
        };
        let key = Self::digest(user, hash, password);
        if self.verified.lock().contains(&key) {
            return Ok(());
        }
        if bcrypt::verify(password, hash).unwrap_or(false) {
            let mut v = self.verified.lock();
            if v.len() >= CACHE_LIMIT {
                v.clear();
            }
            v.insert(key);
            Ok(())
        } else {
            Err(Denied::WrongPassword)
        }
    }

    /// Whether `password` was already verified as `user`'s: no bcrypt, no blocking.
    pub fn known_good(&self, user: &str, password: &str) -> bool {
        self.users.get(user).is_some_and(|hash| {
            self.verified
                .lock()
                .contains(&Self::digest(user, hash, password))
        })
    }

    /// How many verified passwords are cached (for tests).
    pub fn cached(&self) -> usize {
        self.verified.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn reads_basic_credentials() {
        // RFC 7617 section 2's example: Aladdin / open sesame.
        assert_eq!(
            credentials(Some(&header("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="))),
            Ok(("Aladdin".into(), "open sesame".into()))
        );
        // The scheme is case-insensitive; the password may contain colons.
        assert_eq!(
            credentials(Some(&header(&format!("bAsIc {}", b64("u:p:q"))))),
            Ok(("u".into(), "p:q".into()))
        );
        assert_eq!(credentials(None), Err(Denied::Missing));
        assert_eq!(
            credentials(Some(&header("Bearer abc"))),
            Err(Denied::Missing)
        );
        assert_eq!(
            credentials(Some(&header("Basic !!!"))),
            Err(Denied::Malformed)
        );
        assert_eq!(
            credentials(Some(&header(&format!("Basic {}", b64("nocolon"))))),
            Err(Denied::Malformed)
        );
    }

    #[test]
    fn decides_and_caches() {
        // Cost 4, bcrypt's minimum, keeps the test fast; the decision is the same at any cost.
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("alice".to_owned(), hash)]));
        assert!(auth.enabled());
        assert_eq!(auth.check("alice", "wrong"), Err(Denied::WrongPassword));
        assert_eq!(auth.cached(), 0, "a failure is never cached");
        assert!(!auth.known_good("alice", "s3cret"));
        assert_eq!(auth.check("alice", "s3cret"), Ok(()));
        assert_eq!(auth.cached(), 1);
        assert!(auth.known_good("alice", "s3cret"));
        assert!(!auth.known_good("alice", "wrong"));
        assert_eq!(auth.check("alice", "s3cret"), Ok(()));
        assert_eq!(auth.cached(), 1);
        assert_eq!(auth.check("mallory", "s3cret"), Err(Denied::UnknownUser));
        // The unknown user was compared against a dummy of the same cost.
        let dummy = auth
            .dummy
            .get()
            .unwrap()
            .parse::<bcrypt::HashParts>()
            .unwrap();
        assert_eq!(dummy.get_cost(), 4);
        assert!(!BasicAuth::new(BTreeMap::new()).enabled());
    }

    #[test]
    fn accepts_htpasswd_2y_hashes() {
        // `htpasswd -nBC 10 ""`, the tool exporter-toolkit's docs suggest, writes the $2y$
        // prefix: a hash in that form verifies too.
        let auth = BasicAuth::new(BTreeMap::from([(
            "u".to_owned(),
            bcrypt::hash_with_result("pw", 4)
                .unwrap()
                .format_for_version(bcrypt::Version::TwoY),
        )]));
        assert_eq!(auth.check("u", "pw"), Ok(()));
    }
}
