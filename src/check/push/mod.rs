//! `push:`: where results go besides headroom's own outputs, as configured. The senders are
//! [`nagios`] (an external command file) and [`icinga`] (the Icinga 2 REST API).

pub mod icinga;
pub mod nagios;

use std::path::PathBuf;
use std::time::Duration;

/// `push:` in the config, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPush {
    /// A Nagios external command file (named pipe): one `PROCESS_SERVICE_CHECK_RESULT`
    /// line per evaluation, host = target name, service = check name.
    pub nagios_command_file: Option<PathBuf>,
    /// An Icinga 2 API to POST results to (`/v1/actions/process-check-result`).
    pub icinga2: Option<RawIcinga>,
}

/// `push.icinga2:`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIcinga {
    /// Base URL of the API, e.g. `https://icinga.example.com:5665`.
    pub url: String,
    /// ApiUser name; it needs the `actions/process-check-result` permission.
    pub user: String,
    /// Environment variable holding the ApiUser password.
    pub password_env: Option<String>,
    /// File holding the ApiUser password.
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the API's certificate (Icinga's own CA, usually
    /// `/var/lib/icinga2/certs/ca.crt`), on top of the system trust store.
    pub ca_file: Option<PathBuf>,
    /// Per-request timeout. Default 5s.
    pub timeout: Option<crate::config::Duration>,
}

/// Where results go besides headroom's own outputs (validated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushConfig {
    pub nagios_command_file: Option<PathBuf>,
    pub icinga2: Option<IcingaPush>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcingaPush {
    pub url: String,
    pub user: String,
    pub password: crate::config::Secret,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl RawPush {
    pub fn validate(&self, v: &mut crate::config::Validator<'_>) -> PushConfig {
        let icinga2 = self.icinga2.as_ref().and_then(|i| {
            if !(i.url.starts_with("https://") || i.url.starts_with("http://")) {
                v.error(
                    "push.icinga2.url",
                    format!("{:?} is not an http(s) URL", i.url),
                );
                return None;
            }
            let which = if i.password_file.is_some() {
                "push.icinga2.password_file"
            } else {
                "push.icinga2.password_env"
            };
            if i.password_env.is_none() && i.password_file.is_none() {
                v.error("push.icinga2", "needs password_env or password_file");
                return None;
            }
            let password =
                v.secret(which, i.password_env.as_deref(), i.password_file.as_deref())?;
            let ca_file = i.ca_file.as_ref().map(|f| v.relative(f));
            if let Some(f) = &ca_file
                && let Err(e) = std::fs::read(f)
            {
                v.error(
                    "push.icinga2.ca_file",
                    format!("cannot read {}: {e}", f.display()),
                );
                return None;
            }
            Some(IcingaPush {
                url: i.url.trim_end_matches('/').to_owned(),
                user: i.user.clone(),
                password,
                ca_file,
                timeout: i.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(5)),
            })
        });
        PushConfig {
            nagios_command_file: self.nagios_command_file.as_ref().map(|p| v.relative(p)),
            icinga2,
        }
    }
}
