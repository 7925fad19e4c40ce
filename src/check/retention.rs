//! Check state that survives a restart, `kill -9` included: the whole state is written to a
//! temporary file, fsynced, renamed over the old one and the directory fsynced, so the file
//! on disk is always either the previous or the new complete state. A torn or corrupt file
//! is reported and ignored; it never stops the daemon.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state::CheckState;

const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct File {
    version: u32,
    checks: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    check: String,
    host: String,
    state: CheckState,
}

pub type States = HashMap<(String, String), CheckState>;

#[derive(Debug, Clone)]
pub struct Retention {
    path: PathBuf,
}

impl Retention {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Retention { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved states. A missing file is an empty state; an unreadable or corrupt one is
    /// an empty state and a reason to log.
    pub fn load(&self) -> (States, Option<String>) {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (States::new(), None),
            Err(e) => {
                return (
                    States::new(),
                    Some(format!("{}: cannot read: {e}", self.path.display())),
                );
            }
        };
        match serde_json::from_slice::<File>(&bytes) {
            Ok(f) if f.version == VERSION => (
                f.checks
                    .into_iter()
                    .map(|e| ((e.check, e.host), e.state))
                    .collect(),
                None,
            ),
            Ok(f) => (
                States::new(),
                Some(format!(
                    "{}: unknown version {}; ignored",
                    self.path.display(),
                    f.version
                )),
            ),
            Err(e) => (
                States::new(),
                Some(format!(
                    "{}: corrupt ({e}); check state starts afresh",
                    self.path.display()
                )),
            ),
        }
    }

    /// Writes all states atomically.
    pub fn save<'a>(
        &self,
        states: impl Iterator<Item = (&'a str, &'a str, &'a CheckState)>,
    ) -> std::io::Result<()> {
        let file = File {
            version: VERSION,
            checks: states
                .map(|(c, h, s)| Entry {
                    check: c.to_owned(),
                    host: h.to_owned(),
                    state: s.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.tmp",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("state")
        ));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::state::{FlapThresholds, Status};

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let r = Retention::new(dir.path().join("checks.json"));
        assert_eq!(r.load(), (States::new(), None));
        let mut s = CheckState::new(5);
        s.apply(Status::Critical, 100, FlapThresholds::default());
        s.apply(Status::Critical, 160, FlapThresholds::default());
        r.save([("MEMCACHE_HITRATE", "m1", &s)].into_iter())
            .unwrap();
        let (loaded, err) = r.load();
        assert_eq!(err, None);
        assert_eq!(loaded[&("MEMCACHE_HITRATE".to_owned(), "m1".to_owned())], s);
        // A torn write (what a crash mid-write without the rename would leave).
        let json = std::fs::read(r.path()).unwrap();
        std::fs::write(r.path(), &json[..json.len() / 2]).unwrap();
        let (loaded, err) = r.load();
        assert!(loaded.is_empty());
        assert!(err.unwrap().contains("corrupt"));
    }
}
