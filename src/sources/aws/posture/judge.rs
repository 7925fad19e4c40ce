//! The posture source's judgments, pure: what the AWS calls returned (in plain types, so the
//! tests feed them directly) against the configured policy, as findings and logging states,
//! and those as families.

use std::collections::BTreeMap;

use crate::model::{Family, Kind, Sample};

/// Kinds of security finding, in the order they are exported. Each is a value of the `kind`
/// label of `headroom_posture_finding` and `headroom_posture_findings`.
pub const MFA_DISABLED: &str = "mfa_disabled";
pub const ROOT_ACCESS_KEYS: &str = "root_access_keys";
pub const PASSWORD_POLICY: &str = "password_policy";
pub const ACCESS_KEY_AGE: &str = "access_key_age";
pub const PUBLIC_RDS: &str = "public_rds";
pub const PUBLIC_EC2: &str = "public_ec2";
pub const UNENCRYPTED_RDS: &str = "unencrypted_rds";
pub const UNENCRYPTED_EBS: &str = "unencrypted_ebs";
pub const UNENCRYPTED_ELASTICACHE: &str = "unencrypted_elasticache";
pub const ELB_TLS_POLICY: &str = "elb_tls_policy";

/// The account-wide kinds, read from IAM by the target with `iam: true`.
pub const IAM_KINDS: [&str; 4] = [
    MFA_DISABLED,
    ROOT_ACCESS_KEYS,
    PASSWORD_POLICY,
    ACCESS_KEY_AGE,
];
/// The regional kinds, read by every target.
pub const REGIONAL_KINDS: [&str; 6] = [
    PUBLIC_RDS,
    PUBLIC_EC2,
    UNENCRYPTED_RDS,
    UNENCRYPTED_EBS,
    UNENCRYPTED_ELASTICACHE,
    ELB_TLS_POLICY,
];

/// Kinds of logging, the `kind` label of `headroom_logging_enabled`.
pub const ELB_ACCESS_LOG: &str = "elb_access_log";
pub const S3_ACCESS_LOG: &str = "s3_access_log";
pub const CLOUDTRAIL: &str = "cloudtrail";
pub const CONFIG_RECORDER: &str = "config_recorder";

/// The `resource` of an account-wide finding (the root user, the password policy).
pub const ACCOUNT: &str = "account";
/// The `resource` of a logging kind that has nothing at all in the region (no trail, no
/// recorder): reported as off, since nothing records.
pub const NONE: &str = "none";

/// One finding: a resource that breaks the policy, with a short stable reason.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub kind: &'static str,
    pub resource: String,
    /// Why, when more than the kind says: the password rules missed, the TLS policy in use,
    /// the key's creation date. Stable while the finding stands (no ages: they would make a
    /// new series every poll).
    pub detail: String,
}

impl Finding {
    pub fn new(kind: &'static str, resource: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            kind,
            resource: resource.into(),
            detail: detail.into(),
        }
    }
}

/// The password policy headroom requires (`password_policy:` of a target). Defaults follow
/// the CIS AWS Foundations Benchmark (v1.4, controls 1.8 and 1.9): at least 14 characters and
/// no reuse of the last 24 passwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordMinimum {
    pub min_length: i32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    /// Passwords must expire within this many days; `None`: expiry not required.
    pub max_age_days: Option<i32>,
    /// At least this many previous passwords may not be reused; `None`: not required.
    pub reuse_prevention: Option<i32>,
}

impl Default for PasswordMinimum {
    fn default() -> Self {
        PasswordMinimum {
            min_length: 14,
            require_symbols: false,
            require_numbers: false,
            require_uppercase: false,
            require_lowercase: false,
            max_age_days: None,
            reuse_prevention: Some(24),
        }
    }
}

/// The account's password policy as GetAccountPasswordPolicy returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PasswordPolicy {
    pub min_length: Option<i32>,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    /// 0 or absent: passwords never expire.
    pub max_age_days: Option<i32>,
    pub reuse_prevention: Option<i32>,
}

/// What the policy misses of the minimum, in IAM's field names; empty when it meets it. No
/// policy at all (IAM answers NoSuchEntity) is a finding of its own.
pub fn password_gaps(policy: Option<&PasswordPolicy>, min: &PasswordMinimum) -> Vec<String> {
    let Some(p) = policy else {
        return vec!["no password policy".into()];
    };
    let mut gaps = Vec::new();
    // IAM's default minimum length is 6 when the field is absent (IAM API reference,
    // UpdateAccountPasswordPolicy: MinimumPasswordLength).
    let len = p.min_length.unwrap_or(6);
    if len < min.min_length {
        gaps.push(format!("MinimumPasswordLength {len} < {}", min.min_length));
    }
    for (want, have, name) in [
        (min.require_symbols, p.require_symbols, "RequireSymbols"),
        (min.require_numbers, p.require_numbers, "RequireNumbers"),
        (
            min.require_uppercase,
            p.require_uppercase,
            "RequireUppercaseCharacters",
        ),
        (
            min.require_lowercase,
            p.require_lowercase,
            "RequireLowercaseCharacters",
        ),
    ] {
        if want && !have {
            gaps.push(format!("{name} false"));
        }
    }
    if let Some(max) = min.max_age_days {
        match p.max_age_days.filter(|d| *d > 0) {
            None => gaps.push("passwords never expire".into()),
            Some(d) if d > max => gaps.push(format!("MaxPasswordAge {d} > {max}")),
            Some(_) => {}
        }
    }
    if let Some(n) = min.reuse_prevention {
        let have = p.reuse_prevention.unwrap_or(0);
        if have < n {
            gaps.push(format!("PasswordReusePrevention {have} < {n}"));
        }
    }
    gaps
}

/// GetAccountSummary's two root-user facts, as findings. A key absent from the map is no
/// finding: IAM did not say.
pub fn summary_findings(summary: &BTreeMap<String, i64>) -> Vec<Finding> {
    let mut out = Vec::new();
    if summary.get("AccountMFAEnabled") == Some(&0) {
        out.push(Finding::new(MFA_DISABLED, ACCOUNT, "root user without MFA"));
    }
    if summary
        .get("AccountAccessKeysPresent")
        .is_some_and(|n| *n > 0)
    {
        out.push(Finding::new(
            ROOT_ACCESS_KEYS,
            ACCOUNT,
            "root user has access keys",
        ));
    }
    out
}

/// An IAM user's access key as ListAccessKeys returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessKey {
    pub user: String,
    pub id: String,
    pub active: bool,
    /// CreateDate, Unix time.
    pub created: f64,
}

/// Active keys created more than `max_age_days` days before `now`. Inactive keys cannot sign
/// requests and are not judged. The key's ID is not a secret (it names the key in CloudTrail
/// and in the console); the secret is never returned by ListAccessKeys.
pub fn old_keys(keys: &[AccessKey], max_age_days: f64, now: f64) -> Vec<Finding> {
    keys.iter()
        .filter(|k| k.active && now - k.created > max_age_days * 86_400.0)
        .map(|k| {
            let created = time::OffsetDateTime::from_unix_timestamp(k.created as i64)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            Finding::new(
                ACCESS_KEY_AGE,
                format!("{}/{}", k.user, k.id),
                format!("created {created}"),
            )
        })
        .collect()
}

/// A classic ELB listener that terminates TLS (HTTPS or SSL), with the predefined security
/// policy its SSL negotiation policy refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    pub load_balancer: String,
    pub port: i32,
    /// The predefined policy (`ELBSecurityPolicy-...`) in use: a policy name of the listener
    /// that is one itself, or the `Reference-Security-Policy` attribute of its
    /// `SSLNegotiationPolicyType` policy. `None`: a custom cipher list, or no SSL negotiation
    /// policy at all.
    pub policy: Option<String>,
}

/// Listeners whose policy is not one of `allowed`.
pub fn tls_findings(listeners: &[TlsListener], allowed: &[String]) -> Vec<Finding> {
    listeners
        .iter()
        .filter(|l| !l.policy.as_ref().is_some_and(|p| allowed.contains(p)))
        .map(|l| {
            Finding::new(
                ELB_TLS_POLICY,
                format!("{}:{}", l.load_balancer, l.port),
                l.policy
                    .clone()
                    .unwrap_or_else(|| "custom or no security policy".into()),
            )
        })
        .collect()
}

/// Of a listener's policy names and the load balancer's policy descriptions (name, type,
/// `Reference-Security-Policy` attribute), the predefined security policy in use.
pub fn reference_policy(
    listener_policies: &[String],
    described: &[(String, String, Option<String>)],
) -> Option<String> {
    for name in listener_policies {
        if let Some((_, ty, reference)) = described.iter().find(|(n, _, _)| n == name) {
            if ty == "SSLNegotiationPolicyType" {
                return reference.clone();
            }
        } else if name.starts_with("ELBSecurityPolicy-") {
            return Some(name.clone());
        }
    }
    None
}

/// One logging state: the resource and whether it logs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Logging {
    pub kind: &'static str,
    pub resource: String,
    pub enabled: bool,
}

/// Findings and logging states as families. `kinds` are the finding kinds this target
/// judged: each gets a count, 0 when clean, so a check and a panel have a value. `logging`
/// kinds judged with nothing to judge (no load balancer) export no series of that kind.
pub fn families(kinds: &[&'static str], findings: &[Finding], logging: &[Logging]) -> Vec<Family> {
    let mut finding = Family::new(
        "headroom_posture_finding",
        "A security posture finding: 1 per resource that breaks the policy, by kind, with a short reason in detail.",
        Kind::Gauge,
    );
    let mut counts: BTreeMap<&str, f64> = kinds.iter().map(|k| (*k, 0.0)).collect();
    let mut sorted = findings.to_vec();
    sorted.sort();
    sorted.dedup_by(|a, b| a.kind == b.kind && a.resource == b.resource);
    for f in &sorted {
        *counts.entry(f.kind).or_default() += 1.0;
        let mut labels = vec![
            ("kind".into(), f.kind.to_owned()),
            ("resource".into(), f.resource.clone()),
        ];
        if !f.detail.is_empty() {
            labels.push(("detail".into(), f.detail.clone()));
        }
        finding.samples.push(Sample { labels, value: 1.0 });
    }
    let mut count = Family::new(
        "headroom_posture_findings",
        "Security posture findings by kind (0 when clean).",
        Kind::Gauge,
    );
    for k in kinds {
        count.samples.push(Sample {
            labels: vec![("kind".into(), (*k).to_owned())],
            value: counts[k],
        });
    }
    let mut enabled = Family::new(
        "headroom_logging_enabled",
        "1 if the resource's logging is on (ELB access logs, S3 server access logging, a CloudTrail trail logging, an AWS Config recorder recording), 0 if off.",
        Kind::Gauge,
    );
    let mut off = Family::new(
        "headroom_logging_disabled",
        "Resources whose logging is off, by kind (0 when all log).",
        Kind::Gauge,
    );
    let mut offs: BTreeMap<&str, f64> = BTreeMap::new();
    let mut logging = logging.to_vec();
    logging.sort();
    for l in &logging {
        *offs.entry(l.kind).or_default() += if l.enabled { 0.0 } else { 1.0 };
        enabled.samples.push(Sample {
            labels: vec![
                ("kind".into(), l.kind.to_owned()),
                ("resource".into(), l.resource.clone()),
            ],
            value: if l.enabled { 1.0 } else { 0.0 },
        });
    }
    for (k, n) in offs {
        off.samples.push(Sample {
            labels: vec![("kind".into(), k.to_owned())],
            value: n,
        });
    }
    let mut out = vec![Family::single(
        "headroom_posture_up",
        "1 if every posture call succeeded.",
        Kind::Gauge,
        1.0,
    )];
    out.extend(
        [finding, count, enabled, off]
            .into_iter()
            .filter(|f| !f.samples.is_empty()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find_value;

    #[test]
    fn password_policy_against_the_minimum() {
        let min = PasswordMinimum {
            require_symbols: true,
            max_age_days: Some(90),
            ..PasswordMinimum::default()
        };
        assert_eq!(password_gaps(None, &min), ["no password policy"]);
        let weak = PasswordPolicy {
            min_length: Some(8),
            max_age_days: Some(0),
            ..PasswordPolicy::default()
        };
        assert_eq!(
            password_gaps(Some(&weak), &min),
            [
                "MinimumPasswordLength 8 < 14",
                "RequireSymbols false",
                "passwords never expire",
                "PasswordReusePrevention 0 < 24"
            ]
        );
        let good = PasswordPolicy {
            min_length: Some(16),
            require_symbols: true,
            max_age_days: Some(60),
            reuse_prevention: Some(24),
            ..PasswordPolicy::default()
        };
        assert!(password_gaps(Some(&good), &min).is_empty());
        // Absent length: IAM's default of 6.
        let unset = PasswordPolicy {
            reuse_prevention: Some(24),
            ..PasswordPolicy::default()
        };
        assert_eq!(
            password_gaps(Some(&unset), &PasswordMinimum::default()),
            ["MinimumPasswordLength 6 < 14"]
        );
    }

    #[test]
    fn root_facts_from_the_summary() {
        // moto always answers 0 for both (it cannot model the root user's MFA or keys), so
        // both values are judged here; the AWS CLI's documented example goes through the
        // SDK's types in `posture::tests::account_summary_as_the_sdk_returns_it`.
        let m: BTreeMap<String, i64> = [
            ("Users", 27),
            ("AccountMFAEnabled", 0),
            ("AccountAccessKeysPresent", 1),
            ("AccountSigningCertificatesPresent", 0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let f = summary_findings(&m);
        assert_eq!(
            f.iter().map(|f| f.kind).collect::<Vec<_>>(),
            [MFA_DISABLED, ROOT_ACCESS_KEYS]
        );
        let clean: BTreeMap<String, i64> =
            [("AccountMFAEnabled", 1), ("AccountAccessKeysPresent", 0)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        assert!(summary_findings(&clean).is_empty());
        assert!(summary_findings(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn keys_older_than_the_maximum() {
        let day = 86_400.0;
        let keys = [
            AccessKey {
                user: "deploy".into(),
                id: "AKIAOLD".into(),
                active: true,
                created: 0.0,
            },
            AccessKey {
                user: "deploy".into(),
                id: "AKIAOLDOFF".into(),
                active: false,
                created: 0.0,
            },
            AccessKey {
                user: "ci".into(),
                id: "AKIANEW".into(),
                active: true,
                created: 80.0 * day,
            },
        ];
        let f = old_keys(&keys, 90.0, 100.0 * day);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].resource, "deploy/AKIAOLD");
        assert_eq!(f[0].detail, "created 1970-01-01T00:00:00Z");
        assert_eq!(old_keys(&keys, 0.0, 100.0 * day).len(), 2);
    }

    #[test]
    fn tls_policies_against_the_allowed_list() {
        let described = vec![
            (
                "tls-old".to_owned(),
                "SSLNegotiationPolicyType".to_owned(),
                Some("ELBSecurityPolicy-2016-08".to_owned()),
            ),
            (
                "sticky".to_owned(),
                "LBCookieStickinessPolicyType".to_owned(),
                None,
            ),
        ];
        assert_eq!(
            reference_policy(&["sticky".into(), "tls-old".into()], &described).as_deref(),
            Some("ELBSecurityPolicy-2016-08")
        );
        assert_eq!(
            reference_policy(&["ELBSecurityPolicy-TLS-1-2-2017-01".into()], &[]).as_deref(),
            Some("ELBSecurityPolicy-TLS-1-2-2017-01")
        );
        assert_eq!(reference_policy(&["sticky".into()], &described), None);
        let allowed = vec!["ELBSecurityPolicy-TLS-1-2-2017-01".to_owned()];
        let ls = [
            TlsListener {
                load_balancer: "web".into(),
                port: 443,
                policy: Some("ELBSecurityPolicy-TLS-1-2-2017-01".into()),
            },
            TlsListener {
                load_balancer: "api".into(),
                port: 443,
                policy: Some("ELBSecurityPolicy-2016-08".into()),
            },
            TlsListener {
                load_balancer: "api".into(),
                port: 8443,
                policy: None,
            },
        ];
        let f = tls_findings(&ls, &allowed);
        assert_eq!(
            f.iter().map(|f| f.resource.as_str()).collect::<Vec<_>>(),
            ["api:443", "api:8443"]
        );
        assert_eq!(f[0].detail, "ELBSecurityPolicy-2016-08");
    }

    #[test]
    fn families_count_zero_when_clean() {
        let kinds = [PUBLIC_RDS, UNENCRYPTED_EBS];
        let findings = [Finding::new(UNENCRYPTED_EBS, "vol-1", "")];
        let logging = [
            Logging {
                kind: CLOUDTRAIL,
                resource: "main".into(),
                enabled: false,
            },
            Logging {
                kind: CLOUDTRAIL,
                resource: "org".into(),
                enabled: true,
            },
        ];
        let f = families(&kinds, &findings, &logging);
        assert_eq!(
            find_value(&f, "headroom_posture_findings", &[("kind", PUBLIC_RDS)]),
            Some(0.0)
        );
        assert_eq!(
            find_value(
                &f,
                "headroom_posture_findings",
                &[("kind", UNENCRYPTED_EBS)]
            ),
            Some(1.0)
        );
        assert_eq!(
            find_value(
                &f,
                "headroom_posture_finding",
                &[("kind", UNENCRYPTED_EBS), ("resource", "vol-1")]
            ),
            Some(1.0)
        );
        assert_eq!(
            find_value(&f, "headroom_logging_enabled", &[("resource", "main")]),
            Some(0.0)
        );
        assert_eq!(
            find_value(&f, "headroom_logging_disabled", &[("kind", CLOUDTRAIL)]),
            Some(1.0)
        );
    }
}
