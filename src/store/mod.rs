//! What the pollers found: the latest snapshot of every target.
pub mod snapshot;

pub use snapshot::{Family, Kind, Sample, SnapshotStore, TargetSnapshot, find_value};
