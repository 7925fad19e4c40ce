//! `headroom run --shard I/N`: which targets this agent polls when N agents share one config.
//! A target belongs to shard `hashmod(name, N)`, computed as Prometheus' `hashmod` relabel
//! action computes it (the low 64 bits of the MD5 of the value, big-endian, modulo N:
//! prometheus/model/relabel, `relabel.go`), so the agents partition the targets exactly, the
//! same name always lands on the same agent, and a Prometheus relabel rule can tell the same.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};

/// Shard `index` of `count`, numbered from 0 as Prometheus' `hashmod` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Whether the target named `name` is this shard's.
    pub fn owns(&self, name: &str) -> bool {
        hashmod(name, self.count) == self.index
    }
}

/// Prometheus' `hashmod`: the MD5 of `value`, its last 8 bytes as a big-endian integer,
/// modulo `modulus`.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut low = [0u8; 8];
    low.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(low) % modulus
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let usage = || format!("{s:?} is not a shard: I/N, I from 0 to N-1 (e.g. 0/3, 1/3, 2/3)");
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let index: u64 = i.trim().parse().map_err(|_| usage())?;
        let count: u64 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("1/3".parse(), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "1/0", "a/3", "1", "-1/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard { index: 2, count: 5 }.to_string(), "2/5");
    }

    #[test]
    fn hashmod_is_prometheus_hashmod() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e: its low 8 bytes 0xe9800998ecf8427e.
        assert_eq!(hashmod("", 1 << 40), 0xe980_0998_ecf8_427e % (1 << 40));
        // md5("a") = 0cc175b9c0f1b6a831c399e269772661.
        assert_eq!(hashmod("a", 1000), 0x31c3_99e2_6977_2661 % 1000);
    }

    #[test]
    fn shards_partition_the_names() {
        let names: Vec<String> = (0..300).map(|i| format!("memcached-{i}")).collect();
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for n in &names {
            assert_eq!(shards.iter().filter(|s| s.owns(n)).count(), 1, "{n}");
        }
        // Roughly even: each of 3 shards gets between a fifth and a half of 300 names.
        for s in &shards {
            let k = names.iter().filter(|n| s.owns(n)).count();
            assert!((60..150).contains(&k), "shard {s}: {k}");
        }
    }
}
