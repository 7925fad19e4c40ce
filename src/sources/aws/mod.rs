//! AWS: shared pieces of the AWS sources. So far the pure parts of CloudWatch reading:
//! YACE-compatible naming and the GetMetricData packing plan (see the AWS issue's notes for
//! what is still to come: SDK clients, ELB, ElastiCache, RDS).

pub mod naming;
pub mod plan;
