//! Capacity planning: the Universal Scalability Law fit, the instance catalog, the
//! per-resource model and the data-transfer planner. Pure computation; the daemon and the
//! `capacity` and `migration` commands feed it.

pub mod catalog;
pub mod evaluate;
pub mod inputs;
pub mod knee;
pub mod model;
pub mod prices;
pub mod report;
pub mod transfer;
pub mod usl;
