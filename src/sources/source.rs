//! What a source module provides, and what it may read of the rest of the configuration.
//!
//! A source is one module with a `KIND`, a `RawTarget` (its config section's entries, which
//! implement [`SourceTarget`]), a `Settings` (what validation makes of one, which implements
//! [`Source`]) and a poller. `sources/mod.rs` lists the modules, one line each; the config
//! file's schema, the target enum and the poller enum are generated from that list.

use std::collections::HashMap;
use std::sync::Arc;

use crate::capacity::catalog::Class;
use crate::config::{CommonTarget, Validator};
use crate::model::{Poller, SourceKind};
use crate::sources::aws::Clients;
use crate::store::history::HistorySource;

/// What a source's validation may need from other sections of the configuration.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `history:`, resolved (`None` when invalid or disabled).
    pub history: Option<HistorySource>,
    /// Whether `history.enabled` is false (rather than `history:` invalid).
    pub history_disabled: bool,
    /// The instance catalog with the config's `catalog:` entries applied.
    pub catalog: Arc<Vec<Class>>,
    /// `mysql[].rds_instance` by target name.
    pub rds_of: HashMap<String, String>,
    /// `dday:`, when set and valid.
    pub dday: Option<crate::config::dday::DDay>,
    /// `vantage:`: where this agent probes from (the `vantage` label of the http source's
    /// series); empty when not set.
    pub vantage: String,
}

/// One entry of a source's config section, as written in the file.
pub trait SourceTarget {
    /// What validation makes of it.
    type Settings;
    /// Name and schedule, checked the same way for every source.
    fn common(&self) -> CommonTarget<'_>;
    /// The source's own fields, checked; `None` after recording errors in `v`.
    fn validate(&self, v: &mut Validator<'_>, path: &str, cx: &Context) -> Option<Self::Settings>;
}

/// What a poller is built with besides its settings.
#[derive(Debug, Clone, Copy)]
pub struct Spawn<'a> {
    /// The target's full name (a discovered target's includes its parent's).
    pub name: &'a str,
    pub interval: std::time::Duration,
    /// The AWS clients, for the sources that call AWS.
    pub aws: &'a Clients,
}

/// A validated target's settings: which source it is and how its poller is built.
pub trait Source {
    const KIND: SourceKind;
    type Poller: Poller;
    fn poller(&self, at: Spawn<'_>) -> Self::Poller;
    /// Whether this target can ever export `metric` with these labels. Checks are bound only
    /// to targets that can (a PUT latency check to a target that sends PUT), so that no check
    /// sits on a target where it could never fail. Default: anything.
    fn may_export(&self, metric: &str, labels: &[(String, String)]) -> bool {
        let _ = (metric, labels);
        true
    }
}
