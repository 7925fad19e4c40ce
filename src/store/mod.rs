//! What the pollers found: the latest snapshot of every target, and the embedded history of
//! the databases (per-minute and hourly rollups in SQLite) that the recorder writes from it.
pub mod exposition;
pub mod history;
pub mod recorder;
pub mod snapshot;

pub use snapshot::{SnapshotStore, TargetSnapshot};
