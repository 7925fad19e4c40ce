//! Scale-out on Prometheus' own mechanism (`headroom run --shard I/N`): three agents on one
//! config of twelve memcached targets (all on the services' memcached, under twelve names),
//! one real Prometheus scraping the three. Their targets partition the set exactly, each agent
//! checks its own and says so, and the shard each target landed on is the one Prometheus'
//! `hashmod` relabel action computes from the same name.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::common::prom::Prometheus;
use crate::common::{Daemon, env, free_port, wait_for};

#[test]
fn three_shards_partition_the_targets_as_prometheus_hashmod_does() {
    let memcached = env("HEADROOM_TEST_MEMCACHED");
    let names: BTreeSet<String> = (0..12).map(|i| format!("cache-{i:02}")).collect();
    let mut config = String::from("defaults: {interval: 1s}\nmemcached:\n");
    for n in &names {
        config.push_str(&format!("  - {{name: {n}, address: '{memcached}'}}\n"));
    }
    let agents: Vec<(u64, Daemon)> = (0..3)
        .map(|i| {
            let shard = format!("{i}/3");
            (
                i,
                Daemon::start(free_port(), &config, &[("HEADROOM_SHARD", shard.as_str())]),
            )
        })
        .collect();
    let shard_of_instance: BTreeMap<String, u64> = agents
        .iter()
        .map(|(i, d)| (format!("127.0.0.1:{}", d.port), *i))
        .collect();
    // Prometheus computes its own hashmod of each series' `target` into `prom_shard`.
    let targets: Vec<String> = shard_of_instance.keys().map(|a| format!("'{a}'")).collect();
    let prom = Prometheus::start(&format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
         scrape_configs:\n\
         \x20 - job_name: headroom\n\
         \x20   static_configs: [{{targets: [{}]}}]\n\
         \x20   metric_relabel_configs:\n\
         \x20     - {{source_labels: [target], modulus: 3, target_label: prom_shard, action: hashmod}}\n",
        targets.join(", ")
    ));
    let series = wait_for(
        "the three agents' targets in Prometheus",
        Duration::from_secs(30),
        || {
            let r = prom
                .query("headroom_target_info{source=\"memcached\"}")
                .ok()?;
            (r.len() >= names.len()).then_some(r)
        },
    );
    // Every name once, on exactly one agent: a partition.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for s in &series {
        let target = s["metric"]["target"].as_str().unwrap().to_owned();
        let instance = s["metric"]["instance"].as_str().unwrap().to_owned();
        assert!(
            seen.insert(target.clone(), instance).is_none(),
            "{target} polled twice"
        );
        // The agent it is on is the shard Prometheus' hashmod gives the name.
        let prom_shard: u64 = s["metric"]["prom_shard"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            prom_shard,
            shard_of_instance[&s["metric"]["instance"].as_str().unwrap().to_owned()],
            "{target}"
        );
    }
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), names);
    // Each agent has some of them (12 names over 3 shards), checks only its own, and says
    // which part it runs.
    for (i, d) in &agents {
        let mine: BTreeSet<&String> = seen
            .iter()
            .filter(|(_, inst)| shard_of_instance[*inst] == *i)
            .map(|(t, _)| t)
            .collect();
        assert!(!mine.is_empty(), "shard {i}/3 got no target");
        let (_, body) = d.get("/api/checks").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let hosts: BTreeSet<String> = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["host"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            hosts.iter().collect::<BTreeSet<_>>(),
            mine,
            "shard {i}/3's checks"
        );
        let scope = v["scope"].as_str().unwrap();
        assert_eq!(
            scope,
            format!(
                "shard {i}/3: {} of the config's 12 targets (the others are polled by the agents of the other shards)",
                mine.len()
            )
        );
        let (_, page) = d.get("/status").unwrap();
        assert!(
            page.contains(&format!("This agent runs shard {i}/3: ")),
            "{page}"
        );
        let (_, dday) = d.get("/api/dday").unwrap();
        assert!(
            dday.contains(&format!("\"scope\":\"shard {i}/3: ")),
            "{dday}"
        );
    }
}
