//! AWS sources. So far CloudWatch: YACE-compatible naming, the GetMetricData packing plan
//! and the source itself (see the AWS issue's notes for what is still to come: ELB,
//! ElastiCache, RDS, assume-role, the retry and throttling counters).

pub mod cloudwatch;
pub mod naming;
pub mod plan;
