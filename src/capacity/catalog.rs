//! The instance catalog: RDS classes (catalog/rds-classes.yaml, compiled in, every number
//! with its source there), the storage rules of gp2, gp3, io1 and io2, and RDS's defaults for
//! `max_connections` and the buffer pool. Users add or override classes in their config.
//!
//! Storage rules and defaults: Amazon RDS User Guide, "Amazon RDS DB instance storage"
//! (CHAP_Storage, MySQL/MariaDB), "Quotas and constraints" (CHAP_Limits) and
//! "Troubleshooting" (CHAP_Troubleshooting); awsdocs/amazon-rds-user-guide @50e7617.

use serde::Deserialize;

/// The shipped catalog file.
pub const SHIPPED: &str = include_str!("../../catalog/rds-classes.yaml");

/// One DB instance class (an entry of `catalog:` in the config).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Class {
    /// The class name, e.g. `db.r7g.large`.
    pub name: String,
    /// Virtual CPUs.
    pub vcpu: u32,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// The class's maximum EBS bandwidth, megabits per second.
    pub ebs_max_mbps: f64,
    /// EBS IOPS the class sustains.
    pub ebs_iops_baseline: f64,
    /// EBS IOPS it reaches while bursting (equal to the baseline for non-burst classes).
    pub ebs_iops_max: f64,
    /// Whether the maximum lasts only 30 minutes a day.
    #[serde(default)]
    pub burst: bool,
}

#[derive(Deserialize)]
struct File {
    classes: Vec<(String, u32, f64, f64, f64, f64, bool)>,
}

/// The shipped classes.
pub fn shipped() -> Vec<Class> {
    let f: File = serde_yaml_ng::from_str(SHIPPED)
        .expect("catalog/rds-classes.yaml parses (a test loads it)");
    f.classes
        .into_iter()
        .map(
            |(name, vcpu, memory_gib, ebs_max_mbps, base, max, burst)| Class {
                name,
                vcpu,
                memory_gib,
                ebs_max_mbps,
                ebs_iops_baseline: base,
                ebs_iops_max: max,
                burst,
            },
        )
        .collect()
}

/// The shipped classes with `overrides` replacing same-named ones and adding new ones.
pub fn with_overrides(overrides: &[Class]) -> Vec<Class> {
    let mut all = shipped();
    for o in overrides {
        match all.iter_mut().find(|c| c.name == o.name) {
            Some(c) => *c = o.clone(),
            None => all.push(o.clone()),
        }
    }
    all
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl Class {
    /// Whether a class from the config makes sense.
    pub fn check(&self) -> Result<(), String> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !self.name.starts_with("db.") {
            return Err(format!(
                "{:?}: class names start with db., e.g. db.r7g.large",
                self.name
            ));
        }
        if self.vcpu == 0 || !positive(self.memory_gib) || !positive(self.ebs_max_mbps) {
            return Err(format!(
                "{}: vcpu, memory_gib and ebs_max_mbps must be more than 0",
                self.name
            ));
        }
        if !positive(self.ebs_iops_baseline) || self.ebs_iops_max < self.ebs_iops_baseline {
            return Err(format!(
                "{}: ebs_iops_baseline must be more than 0 and ebs_iops_max at least the baseline",
                self.name
            ));
        }
        Ok(())
    }

    pub fn memory_bytes(&self) -> f64 {
        self.memory_gib * GIB
    }

    /// RDS MySQL's default `max_connections`, {DBInstanceClassMemory/12582880}. RDS's
    /// DBInstanceClassMemory is the class memory less what the OS and RDS reserve, which the
    /// catalog does not know, so this is an upper bound (1,365 on 16 GiB where RDS gives about
    /// 1,300).
    pub fn mysql_max_connections(&self) -> f64 {
        (self.memory_bytes() / 12_582_880.0).floor()
    }

    /// RDS MariaDB 10.5+'s default, LEAST({DBInstanceClassMemory/25165760}, 12000).
    pub fn mariadb_max_connections(&self) -> f64 {
        (self.memory_bytes() / 25_165_760.0).floor().min(12_000.0)
    }

    /// RDS's default `innodb_buffer_pool_size`: three quarters of the memory.
    pub fn buffer_pool_bytes(&self) -> f64 {
        0.75 * self.memory_bytes()
    }
}

/// RDS storage types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Gp2,
    Gp3,
    Io1,
    Io2,
}

impl std::str::FromStr for StorageType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gp2" => Ok(StorageType::Gp2),
            "gp3" => Ok(StorageType::Gp3),
            "io1" => Ok(StorageType::Io1),
            "io2" => Ok(StorageType::Io2),
            _ => Err(format!("{s:?}: one of gp2, gp3, io1, io2")),
        }
    }
}

/// What a volume sustains, and what it may burst to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Storage {
    pub iops: f64,
    /// MiB/s.
    pub throughput_mib_s: f64,
    /// gp2 below 1 TiB a volume: burst IOPS while credits last (`BurstBalance` > 0).
    pub burst_iops: Option<f64>,
}

/// The IOPS and throughput of `gib` GiB of `kind`, with `provisioned` IOPS and throughput
/// (MiB/s) where the type takes them. Errors name the rule broken.
pub fn storage(
    kind: StorageType,
    gib: f64,
    provisioned_iops: Option<f64>,
    provisioned_mib_s: Option<f64>,
) -> Result<Storage, String> {
    let striped = gib >= 400.0; // RDS MySQL/MariaDB stripe over 4 volumes from 400 GiB
    match kind {
        StorageType::Gp2 => {
            if provisioned_iops.is_some() || provisioned_mib_s.is_some() {
                return Err("gp2 has no provisioned IOPS or throughput: 3 IOPS per GiB".into());
            }
            // 3 IOPS/GiB, at least 100; one volume at most 16,000; striped at most 64,000.
            let iops = (3.0 * gib)
                .max(100.0)
                .min(if striped { 64_000.0 } else { 16_000.0 });
            // Volumes under 1 TiB burst to 3,000 (12,000 over the four striped ones).
            let burst = if striped {
                (gib < 4.0 * 1024.0).then_some(12_000.0)
            } else {
                (gib < 1024.0).then_some(3_000.0)
            };
            Ok(Storage {
                iops,
                // Striped: 500 to 1,000 MiB/s by size (RDS guide); the lower end is used. One
                // volume: 250 MiB/s, gp2's per-volume maximum (EBS guide, "General Purpose
                // SSD volumes").
                throughput_mib_s: if striped { 500.0 } else { 250.0 },
                burst_iops: burst.filter(|b| *b > iops),
            })
        }
        StorageType::Gp3 => {
            // Below 400 GiB: 3,000 IOPS and 125 MiB/s; from 400 GiB: 12,000 and 500 MiB/s,
            // provisionable to 64,000 IOPS and 4,000 MiB/s.
            let (base_iops, base_mib) = if striped {
                (12_000.0, 500.0)
            } else {
                (3_000.0, 125.0)
            };
            let iops = provisioned_iops.unwrap_or(base_iops);
            let mib = provisioned_mib_s.unwrap_or(base_mib);
            // (RDS reports the baseline as the "provisioned" IOPS of a small gp3 volume.)
            if provisioned_iops.is_some_and(|p| p != base_iops) && !striped {
                return Err("gp3 below 400 GiB has a fixed 3,000 IOPS".into());
            }
            if iops > 64_000.0 || mib > 4_000.0 {
                return Err("gp3 allows at most 64,000 IOPS and 4,000 MiB/s".into());
            }
            if iops / gib > 500.0 {
                return Err(format!(
                    "gp3 allows at most 500 IOPS per GiB ({gib} GiB: {})",
                    500.0 * gib
                ));
            }
            if mib / iops > 0.25 {
                return Err("gp3 allows at most 0.25 MiB/s per provisioned IOPS".into());
            }
            Ok(Storage {
                iops: iops.max(base_iops),
                throughput_mib_s: mib.max(base_mib),
                burst_iops: None,
            })
        }
        StorageType::Io1 | StorageType::Io2 => {
            let iops = provisioned_iops.ok_or("io1 and io2 need provisioned IOPS")?;
            let (ratio_max, name) = match kind {
                StorageType::Io1 => (50.0, "io1"),
                _ => (1000.0, "io2"),
            };
            if kind == StorageType::Io1 && iops / gib < 0.5 {
                return Err("io1 needs at least 0.5 IOPS per GiB".into());
            }
            if iops / gib > ratio_max {
                return Err(format!("{name} allows at most {ratio_max} IOPS per GiB"));
            }
            let cap = if striped || kind == StorageType::Io2 {
                256_000.0
            } else {
                19_950.0
            };
            if iops > cap {
                return Err(format!("{name} allows at most {cap} IOPS at {gib} GiB"));
            }
            Ok(Storage {
                iops,
                throughput_mib_s: if striped { 4_000.0 } else { 500.0 },
                burst_iops: None,
            })
        }
    }
}

/// IOPS an instance of `class` on `storage` sustains: the lower of the volume's and the
/// class's EBS baseline (RDS enforces the instance maximum over striped volumes).
pub fn sustained_iops(class: &Class, storage: &Storage) -> f64 {
    storage.iops.min(class.ebs_iops_baseline)
}

/// MiB/s it sustains: the volume's, capped by the class's EBS bandwidth.
pub fn sustained_mib_s(class: &Class, storage: &Storage) -> f64 {
    storage
        .throughput_mib_s
        .min(class.ebs_max_mbps * 1e6 / 8.0 / (1024.0 * 1024.0))
}

/// A processor generation and its CPU throughput per vCPU relative to the 5th-generation x86
/// classes (db.m5, db.r5, db.t3: Intel Xeon Platinum 8000 series, factor 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuGeneration {
    pub processor: &'static str,
    pub factor: f64,
    /// Where the factor comes from.
    pub source: &'static str,
}

const X86_5: CpuGeneration = CpuGeneration {
    processor: "Intel Xeon Platinum 8000 series (Skylake-SP, Cascade Lake)",
    factor: 1.0,
    source: "the reference generation (Amazon RDS User Guide, DB instance classes, hardware specifications)",
};
// AWS What's New, 15 October 2020, "Amazon RDS now supports M6g and R6g instances powered by
// AWS Graviton2 processors": "up to 35% performance improvement" over M5/R5 for RDS's open
// source engines.
const GRAVITON2: CpuGeneration = CpuGeneration {
    processor: "AWS Graviton2",
    factor: 1.35,
    source: "AWS: up to 35% more performance than M5/R5 for RDS open source databases (What's New, October 2020)",
};
// AWS What's New, April 2023, "Amazon RDS for MySQL, MariaDB and PostgreSQL support M7g and
// R7g": up to 30% better performance than the Graviton2 classes.
const GRAVITON3: CpuGeneration = CpuGeneration {
    processor: "AWS Graviton3",
    factor: 1.35 * 1.30,
    source: "AWS: up to 30% more performance than Graviton2 (What's New, April 2023), times Graviton2's 1.35",
};
// AWS Database Blog, "Leveling up Amazon RDS with AWS Graviton4: Benchmarks": up to 40% more
// performance than the Graviton3 classes.
const GRAVITON4: CpuGeneration = CpuGeneration {
    processor: "AWS Graviton4",
    factor: 1.35 * 1.30 * 1.40,
    source: "AWS: up to 40% more performance than Graviton3 (AWS Database Blog, Graviton4 benchmarks), times Graviton3's factor",
};

/// The processor generation of a class, from its family (`db.r6g` of `db.r6g.large`); `None`
/// for a family without a published relative figure (the model then scales CPU by vCPU only
/// and says so). The factors are AWS's "up to" figures, the best case of its own benchmarks:
/// moving to a newer generation they give an upper estimate.
pub fn cpu_generation(class: &str) -> Option<CpuGeneration> {
    let family = class.rsplit_once('.').map(|(f, _)| f).unwrap_or(class);
    Some(match family {
        "db.t3" | "db.m5" | "db.r5" => X86_5,
        "db.m6g" | "db.r6g" => GRAVITON2,
        "db.m7g" | "db.r7g" => GRAVITON3,
        "db.m8g" | "db.r8g" => GRAVITON4,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_generations_compound_the_published_figures() {
        let f = |c: &str| cpu_generation(c).map(|g| g.factor);
        assert_eq!(f("db.m5.large"), Some(1.0));
        assert_eq!(f("db.t3.medium"), f("db.r5.24xlarge"));
        assert_eq!(f("db.r6g.xlarge"), Some(1.35));
        assert!((f("db.m7g.large").unwrap() - 1.755).abs() < 1e-9);
        assert!((f("db.r8g.2xlarge").unwrap() - 2.457).abs() < 1e-9);
        // No published figure: no factor.
        assert_eq!(f("db.x2iedn.large"), None);
        for c in shipped() {
            assert!(
                cpu_generation(&c.name).is_some(),
                "{} has no CPU generation",
                c.name
            );
        }
    }

    fn class(name: &str) -> Class {
        shipped().into_iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn the_shipped_catalog_loads() {
        let all = shipped();
        assert_eq!(all.len(), 36);
        let r5 = class("db.r5.2xlarge");
        assert_eq!((r5.vcpu, r5.memory_gib), (8, 64.0));
        assert!(r5.burst);
        assert!(all.iter().all(|c| c.ebs_iops_baseline <= c.ebs_iops_max));
    }

    #[test]
    fn max_connections_and_buffer_pool() {
        // 16 GiB: 17,179,869,184 / 12,582,880 = 1,365 (RDS's reserve brings it to ~1,300).
        assert_eq!(class("db.r5.large").mysql_max_connections(), 1365.0);
        assert_eq!(class("db.m5.large").mysql_max_connections(), 682.0);
        assert_eq!(class("db.r5.large").mariadb_max_connections(), 682.0);
        // The MariaDB formula's cap: 768 GiB would give 32,768.
        assert_eq!(class("db.r5.24xlarge").mariadb_max_connections(), 12_000.0);
        assert_eq!(class("db.r5.large").buffer_pool_bytes(), 12.0 * GIB);
    }

    #[test]
    fn gp2_rules() {
        let s = |gib| storage(StorageType::Gp2, gib, None, None).unwrap();
        assert_eq!(s(20.0).iops, 100.0); // the floor
        assert_eq!(s(100.0).iops, 300.0);
        assert_eq!(s(100.0).burst_iops, Some(3_000.0));
        assert_eq!(s(1000.0).iops, 3_000.0); // striped from 400 GiB
        assert_eq!(s(1000.0).burst_iops, Some(12_000.0));
        assert_eq!(s(6000.0).iops, 18_000.0);
        assert_eq!(s(30_000.0).iops, 64_000.0); // the striped cap
        assert!(storage(StorageType::Gp2, 100.0, Some(1000.0), None).is_err());
    }

    #[test]
    fn gp3_rules() {
        let s = storage(StorageType::Gp3, 200.0, None, None).unwrap();
        assert_eq!((s.iops, s.throughput_mib_s), (3_000.0, 125.0));
        let s = storage(StorageType::Gp3, 500.0, None, None).unwrap();
        assert_eq!((s.iops, s.throughput_mib_s), (12_000.0, 500.0));
        let s = storage(StorageType::Gp3, 1000.0, Some(40_000.0), Some(1_000.0)).unwrap();
        assert_eq!(s.iops, 40_000.0);
        assert!(storage(StorageType::Gp3, 100.0, Some(12_000.0), None).is_err()); // < 400 GiB
        assert!(storage(StorageType::Gp3, 100.0, Some(3_000.0), None).is_ok()); // as RDS says it
        assert!(storage(StorageType::Gp3, 1000.0, Some(80_000.0), None).is_err()); // > 64,000
        assert!(storage(StorageType::Gp3, 1000.0, Some(12_000.0), Some(4_000.0)).is_err()); // > 0.25
    }

    #[test]
    fn io1_rules() {
        let s = storage(StorageType::Io1, 500.0, Some(12_000.0), None).unwrap();
        assert_eq!((s.iops, s.throughput_mib_s), (12_000.0, 4_000.0));
        assert!(storage(StorageType::Io1, 200.0, Some(19_950.0), None).is_err()); // > 50/GiB
        assert!(storage(StorageType::Io1, 399.0, Some(19_950.0), None).is_ok());
        assert!(storage(StorageType::Io1, 1000.0, Some(400.0), None).is_err()); // < 0.5/GiB
        assert!(storage(StorageType::Io1, 500.0, None, None).is_err());
        assert!(storage(StorageType::Io2, 200.0, Some(200_000.0), None).is_ok());
    }

    #[test]
    fn the_instance_caps_the_volume() {
        // db.m5.large sustains 3,600 EBS IOPS: a 40,000-IOPS io1 volume gives it no more.
        let c = class("db.m5.large");
        let s = storage(StorageType::Io1, 1000.0, Some(40_000.0), None).unwrap();
        assert_eq!(sustained_iops(&c, &s), 3_600.0);
        // 4,750 Mbps = 566 MiB/s < the volume's 4,000.
        assert!((sustained_mib_s(&c, &s) - 566.3).abs() < 0.1);
    }
}
