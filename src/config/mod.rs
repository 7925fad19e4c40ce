//! Configuration primitives every section uses: durations, secrets, positions in the file
//! (FILE:LINE:COL), validation errors and the [`Validator`] that collects them. Bottom layer:
//! imports nothing of the crate. The file's schema is `config_file.rs`; each section's types
//! live beside the component that owns them.

pub mod dday;
mod duration;
mod positions;
pub mod shard;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

pub use duration::Duration;
pub use positions::{Pos, Positions};

/// A password or token. It is read from the environment or a file, never written inline, and
/// its `Debug` and `Display` print nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    /// The secret itself, for the one place that sends it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret a command line names by where it is (`--password-env VAR` or
    /// `--password-file FILE`, never the secret itself, which `ps` would show): its value
    /// without a trailing line end, `None` when neither is given. An error names the variable
    /// or the file, never the value.
    pub fn from_env_or_file(
        env: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<Secret>, String> {
        match (env, file) {
            (Some(_), Some(_)) => Err("give --password-env or --password-file, not both".into()),
            (Some(var), None) => std::env::var(var)
                .map(|v| Some(Secret(v)))
                .map_err(|_| format!("environment variable {var} is not set")),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map(|v| Some(Secret(v.trim_end_matches(['\n', '\r']).to_owned())))
                .map_err(|e| format!("cannot read {}: {e}", f.display())),
            (None, None) => Ok(None),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One configuration error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                p.line,
                p.col,
                self.message
            ),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// All errors found in one file; `config check` prints every one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects validation errors with their positions. Source modules use it to check their own
/// targets.
#[derive(Debug)]
pub struct Validator<'a> {
    file: &'a Path,
    positions: &'a Positions,
    errors: Vec<ConfigError>,
    /// `defaults:` interval and timeout, resolved.
    schedule: (StdDuration, StdDuration),
    /// The secrets that could not be read, while they are deferred
    /// ([`Validator::defer_secrets`]); `None` while each is required.
    unread: Option<Vec<ConfigError>>,
}

impl<'a> Validator<'a> {
    /// A validator of `file`, whose nodes are found in `positions`; the schedule is
    /// `default_schedule` until [`Validator::set_default_schedule`].
    pub fn new(
        file: &'a Path,
        positions: &'a Positions,
        default_schedule: (StdDuration, StdDuration),
    ) -> Self {
        Validator {
            file,
            positions,
            errors: Vec::new(),
            schedule: default_schedule,
            unread: None,
        }
    }

    /// From now on, a secret that cannot be read (its variable unset, its file unreadable)
    /// is not an error of the file: it is kept for [`Validator::take_unread`]. For a command
    /// that polls some targets or none (`headroom check`, `config plan`, `capacity report`),
    /// which must not fail on the secret of a target it never connects to. A secret given
    /// both ways is still an error.
    pub fn defer_secrets(&mut self) {
        self.unread.get_or_insert_with(Vec::new);
    }

    /// The secrets that could not be read since the last call, when they are deferred.
    pub fn take_unread(&mut self) -> Vec<ConfigError> {
        self.unread.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The errors recorded, if any.
    pub fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    /// The file being validated.
    pub fn file(&self) -> &Path {
        self.file
    }

    /// Sets the interval and timeout of `defaults:`.
    pub fn set_default_schedule(&mut self, schedule: (StdDuration, StdDuration)) {
        self.schedule = schedule;
    }

    /// A duration that must be positive, or `dflt` when absent.
    pub fn positive(&mut self, path: &str, d: Option<Duration>, dflt: StdDuration) -> StdDuration {
        match d {
            Some(Duration(d)) if d.is_zero() => {
                self.error(path, "must be greater than 0");
                dflt
            }
            Some(Duration(d)) => d,
            None => dflt,
        }
    }
    /// Records an error about the node at `path` (e.g. `mysql[0].password_env`).
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        let e = self.located(path, message.into());
        self.errors.push(e);
    }

    fn located(&self, path: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            pos: self.positions.find(path),
            message: format!("{path}: {message}"),
        }
    }

    /// A secret that cannot be read: an error, or kept while secrets are deferred.
    fn unreadable(&mut self, path: &str, message: String) {
        let e = self.located(path, message);
        match &mut self.unread {
            Some(unread) => unread.push(e),
            None => self.errors.push(e),
        }
    }

    /// The interval and timeout of `defaults:` (for targets a source discovers).
    pub fn default_schedule(&self) -> (StdDuration, StdDuration) {
        self.schedule
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub fn pos(&self, path: &str) -> Option<Pos> {
        self.positions.find(path)
    }

    /// Reads a secret from `NAME` in the environment or from a file. `path` names the field
    /// for error messages; the secret itself never enters one.
    pub fn secret(&mut self, path: &str, env: Option<&str>, file: Option<&Path>) -> Option<Secret> {
        match (env, file) {
            (Some(_), Some(_)) => {
                self.error(path, "give either *_env or *_file, not both");
                None
            }
            (Some(var), None) => match std::env::var(var) {
                Ok(v) => Some(Secret(v)),
                Err(std::env::VarError::NotPresent) => {
                    self.unreadable(path, format!("environment variable {var} is not set"));
                    None
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    self.unreadable(
                        path,
                        format!("environment variable {var} is not valid UTF-8"),
                    );
                    None
                }
            },
            (None, Some(f)) => match std::fs::read_to_string(self.relative(f)) {
                // One trailing newline is what `echo pw > file` leaves; it is not part of it.
                Ok(v) => Some(Secret(
                    v.strip_suffix('\n')
                        .map(|s| s.strip_suffix('\r').unwrap_or(s))
                        .unwrap_or(&v)
                        .to_owned(),
                )),
                Err(e) => {
                    self.unreadable(path, format!("cannot read {}: {e}", f.display()));
                    None
                }
            },
            (None, None) => None,
        }
    }

    /// A path from the config, relative to the config file's directory (as Prometheus
    /// resolves its `*_file` settings).
    pub fn relative(&self, p: &Path) -> PathBuf {
        match self.file.parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// Checks a `host:port` address.
    pub fn address(&mut self, path: &str, addr: &str) -> bool {
        let ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !ok {
            self.error(
                path,
                format!("invalid address {addr:?}: expected host:port, e.g. 127.0.0.1:11211"),
            );
        }
        ok
    }
}

/// What every target has, whatever its source.
#[derive(Debug)]
pub struct CommonTarget<'a> {
    pub name: &'a str,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    /// The AWS region of an AWS target; the optional `region:` of any other.
    pub region: Option<&'a str>,
}

/// serde_yaml appends " at line L column C" to its messages; the location is printed in
/// front instead, as compilers do.
pub fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_owned(),
        _ => msg.to_owned(),
    }
}

/// A serde_yaml message for a person: without its location ([`strip_location`]), and after
/// an unknown field or value, the expected one it is a typo of, if one is near enough
/// ("unknown field `intervall`, expected one of `name`, ...: did you mean `interval`?").
pub fn serde_message(msg: &str) -> String {
    let msg = strip_location(msg);
    match near_expected(&msg) {
        Some(name) => format!("{msg}: did you mean `{name}`?"),
        None => msg,
    }
}

/// In serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`", or "unknown
/// variant"), the expected name nearest to `x` by edit distance, when it is within a third
/// of the longer name's length (at least 1): a typo, not another word.
fn near_expected(msg: &str) -> Option<&str> {
    let (_, rest) = msg
        .split_once("unknown field `")
        .or_else(|| msg.split_once("unknown variant `"))?;
    let (given, rest) = rest.split_once('`')?;
    let (_, expected) = rest.split_once("expected ")?;
    nearest(given, expected.split('`').skip(1).step_by(2))
}

/// Of `names`, the one `given` is a typo of: the nearest by edit distance, within a third of
/// the longer name's length (at least 1), and not `given` itself.
pub fn nearest<'a>(given: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .map(|name| (edit_distance(given, name), name))
        .filter(|&(d, name)| name != given && d <= (given.len().max(name.len()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

/// Levenshtein distance over characters, ignoring ASCII case (`Interval` is a typo of
/// `interval`, one edit).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().map(|c| c.to_ascii_lowercase()).enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_suggest_the_near_expected_one() {
        let msg = |m: &str| serde_message(m);
        assert_eq!(
            msg(
                "memcached[0]: unknown field `adress`, expected one of `name`, `address`, `interval` at line 4 column 5"
            ),
            "memcached[0]: unknown field `adress`, expected one of `name`, `address`, `interval`: did you mean `address`?"
        );
        assert_eq!(
            msg(
                "mysql[0].ssl_mode: unknown variant `VERIFY_CAA`, expected one of `DISABLED`, `PREFERRED`, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`"
            ),
            "mysql[0].ssl_mode: unknown variant `VERIFY_CAA`, expected one of `DISABLED`, `PREFERRED`, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`: did you mean `VERIFY_CA`?"
        );
        assert_eq!(
            msg("x: unknown field `Interval`, expected `interval`"),
            "x: unknown field `Interval`, expected `interval`: did you mean `interval`?"
        );
        // Another word, not a typo: no guess.
        assert_eq!(
            msg("unknown field `frequency`, expected one of `name`, `interval`"),
            "unknown field `frequency`, expected one of `name`, `interval`"
        );
        assert_eq!(
            msg("unknown field `basic_auth`, expected `tls_server_config`"),
            "unknown field `basic_auth`, expected `tls_server_config`"
        );
        assert_eq!(
            msg("invalid type: string \"x\", expected a duration"),
            "invalid type: string \"x\", expected a duration"
        );
        assert_eq!(edit_distance("intervall", "interval"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret("hunter2".into())),
            "Secret(<redacted>)"
        );
    }
}
