//! Resource tags as YACE (prometheus-community/yet-another-cloudwatch-exporter) uses them:
//! `search_tags` selects the resources a discovering source reports (YACE's `searchTags`: a
//! key and a regular expression its value must match), `exported_tags` names the tag keys put
//! on their CloudWatch series as `tag_<Key>` labels (YACE's `exportedTagsOnMetrics`: a
//! listed few, because every distinct tag value is a new series), and every resource found
//! gets one `aws_<namespace>_info` series with its ARN (`name`), `account_id`, `region` and
//! all its tags as labels, to join on by `name` for the others.
//!
//! Tags come from the Resource Groups Tagging API's GetResources (one paginated call for
//! every resource of a type, Resource Groups Tagging API Reference), or from a service's own
//! tag call where that is the better source (classic ELB: see `elb.rs`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::config::Validator;
use crate::model::{Family, Kind, PollError, Sample};

/// A resource's tags, key to value.
pub type Tags = BTreeMap<String, String>;

/// One entry of `search_tags:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSearchTag {
    /// Tag key, matched exactly, e.g. `Environment`.
    pub key: String,
    /// Regular expression the tag's value must match (unanchored, as YACE's: write
    /// `^prod$` for exactly `prod`).
    pub value: String,
}

/// A validated [`RawSearchTag`].
#[derive(Debug, Clone)]
pub struct SearchTag {
    pub key: String,
    pub value: regex::Regex,
}

impl PartialEq for SearchTag {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key && self.value.as_str() == o.value.as_str()
    }
}

impl Eq for SearchTag {}

/// `exported_tags:` and `search_tags:` of a discovering target, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tagging {
    /// Tag keys exported as `tag_<Key>` labels on the CloudWatch series, in config order.
    pub exported: Vec<String>,
    pub search: Vec<SearchTag>,
}

/// Validates `exported_tags:` and `search_tags:` at `path`.
pub fn validate(
    v: &mut Validator<'_>,
    path: &str,
    exported: &[String],
    search: &[RawSearchTag],
) -> Option<Tagging> {
    let before = v.error_count();
    let mut labels = BTreeSet::new();
    for k in exported {
        match tag_label(k) {
            None => v.error(
                &format!("{path}.exported_tags"),
                format!("tag key {k:?} makes no valid label name"),
            ),
            Some(l) if !labels.insert(l.clone()) => v.error(
                &format!("{path}.exported_tags"),
                format!("tag key {k:?} gives the label {l}, as an earlier key does"),
            ),
            Some(_) => {}
        }
    }
    let mut out = Vec::new();
    for (i, s) in search.iter().enumerate() {
        match regex::Regex::new(&s.value) {
            Ok(re) => out.push(SearchTag {
                key: s.key.clone(),
                value: re,
            }),
            Err(e) => {
                // The regex crate's message draws the pattern over lines; its last says why.
                let msg = e.to_string();
                let why = msg.lines().last().unwrap_or_default();
                v.error(
                    &format!("{path}.search_tags[{i}].value"),
                    format!(
                        "{:?} is not a regular expression: {}",
                        s.value,
                        why.trim_start_matches("error: ")
                    ),
                );
            }
        }
    }
    (v.error_count() == before).then(|| Tagging {
        exported: exported.to_vec(),
        search: out,
    })
}

impl Tagging {
    /// Whether tags are read at all.
    pub fn is_on(&self) -> bool {
        !self.exported.is_empty() || !self.search.is_empty()
    }

    /// Whether a resource with `tags` is selected: it carries every searched key with a
    /// value matching its expression (YACE's `FilterThroughTags`).
    pub fn selects(&self, tags: &Tags) -> bool {
        self.search
            .iter()
            .all(|s| tags.get(&s.key).is_some_and(|v| s.value.is_match(v)))
    }

    /// The `tag_<Key>` labels of a resource's CloudWatch series: one per exported key, empty
    /// where the resource lacks the tag, so every series of a name has the same label names.
    pub fn labels(&self, tags: &Tags) -> Vec<(String, String)> {
        self.exported
            .iter()
            .filter_map(|k| Some((tag_label(k)?, tags.get(k).cloned().unwrap_or_default())))
            .collect()
    }
}

/// The label of a tag key: `tag_` and the key with YACE's substitutions (its
/// `promutil.sanitize`: space, `,`, tab, `/`, `\`, `.`, `-`, `:`, `=`, `“`, `@`, `<`, `>`,
/// `(`, `)` become `_`, `%` becomes `_percent`; case is kept). `None` when the result is
/// still no valid Prometheus label name (YACE skips such a tag with a warning).
pub fn tag_label(key: &str) -> Option<String> {
    let mut s = String::from("tag_");
    for c in key.chars() {
        match c {
            ' ' | ',' | '\t' | '/' | '\\' | '.' | '-' | ':' | '=' | '“' | '@' | '<' | '>' | '('
            | ')' => s.push('_'),
            '%' => s.push_str("_percent"),
            c => s.push(c),
        }
    }
    let valid = !key.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(s)
}

/// The account of an ARN (`arn:partition:service:region:account:resource`), if it has one.
pub fn account_of(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    let account = parts.nth(3)?;
    parts.next()?;
    (!account.is_empty()).then_some(account)
}

/// The ARN partition of a region (AWS General Reference, "Amazon Resource Names").
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// One resource found: its ARN and all its tags.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tagged {
    pub arn: String,
    pub tags: Tags,
}

/// The labels YACE puts on every series of a discovered resource besides dimensions and
/// tags: `name` (the ARN) and `account_id`.
pub fn resource_labels(arn: &str) -> Vec<(String, String)> {
    vec![
        ("name".to_owned(), arn.to_owned()),
        (
            "account_id".to_owned(),
            account_of(arn).unwrap_or_default().to_owned(),
        ),
    ]
}

/// `aws_<namespace>_info`: one series per resource, value 0 as in YACE, labelled `name`,
/// `account_id`, `region` and `tag_<Key>` for every tag of every resource (a tag key no
/// other resource has is an empty label there). Tags are labels, not series, so all of them
/// cost no cardinality here; join them onto a series with `* on(name) group_left(tag_X)`.
pub fn info_family(namespace: &str, region: &str, resources: &[Tagged]) -> Family {
    let keys: BTreeMap<String, &str> = resources
        .iter()
        .flat_map(|r| r.tags.keys())
        .filter_map(|k| Some((tag_label(k)?, k.as_str())))
        .collect();
    let mut f = Family::new(
        super::naming::info_name(namespace),
        format!("{namespace} resources found, with their ARN (name) and tags as labels."),
        Kind::Gauge,
    );
    // A resource without an ARN (its account unknown) has nothing to be joined on by.
    for r in resources.iter().filter(|r| !r.arn.is_empty()) {
        let mut labels: Vec<(std::borrow::Cow<'static, str>, String)> = resource_labels(&r.arn)
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect();
        labels.push(("region".into(), region.to_owned()));
        for (label, key) in &keys {
            labels.push((
                label.clone().into(),
                r.tags.get(*key).cloned().unwrap_or_default(),
            ));
        }
        f.samples.push(Sample { labels, value: 0.0 });
    }
    f
}

/// Every resource of `resource_type` (e.g. `elasticloadbalancing:loadbalancer`) with its tags,
/// by ARN, from GetResources (at most 100 per page).
pub async fn get_resources(
    client: &aws_sdk_resourcegroupstagging::Client,
    api: &super::ApiCounters,
    region: &str,
    resource_type: &str,
) -> Result<BTreeMap<String, Tags>, PollError> {
    let mut out = BTreeMap::new();
    let mut token: Option<String> = None;
    let mut pages = super::Pages::default();
    loop {
        api.request(SERVICE, "GetResources");
        let page = client
            .get_resources()
            .resource_type_filters(resource_type)
            .resources_per_page(100)
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(|e| super::call_failed(api, SERVICE, region, "GetResources", e))?;
        for m in page.resource_tag_mapping_list() {
            let Some(arn) = m.resource_arn() else {
                continue;
            };
            out.insert(
                arn.to_owned(),
                m.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            );
        }
        // The last page carries an empty token rather than none.
        token = pages.after(
            page.pagination_token().filter(|t| !t.is_empty()),
            region,
            "GetResources",
        )?;
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The `service` label of the Tagging API's requests (IAM prefix `tag`).
const SERVICE: &str = "tagging";

/// The account the credentials belong to, from STS GetCallerIdentity (for ARNs a service
/// does not return, as classic ELB's DescribeLoadBalancers).
pub async fn account(
    client: &aws_sdk_sts::Client,
    api: &super::ApiCounters,
    region: &str,
) -> Result<String, PollError> {
    api.request("sts", "GetCallerIdentity");
    let out = client
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| super::call_failed(api, "sts", region, "GetCallerIdentity", e))?;
    Ok(out.account().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_labels_as_yace_sanitizes() {
        assert_eq!(tag_label("Name").as_deref(), Some("tag_Name"));
        assert_eq!(
            tag_label("aws:cloudformation:stack-name").as_deref(),
            Some("tag_aws_cloudformation_stack_name")
        );
        assert_eq!(
            tag_label("kubernetes.io/cluster").as_deref(),
            Some("tag_kubernetes_io_cluster")
        );
        assert_eq!(tag_label("cost%").as_deref(), Some("tag_cost_percent"));
        assert_eq!(tag_label("team name").as_deref(), Some("tag_team_name"));
        // Characters YACE does not replace leave no valid label name.
        assert_eq!(tag_label("é"), None);
        assert_eq!(tag_label("a+b"), None);
        assert_eq!(tag_label(""), None);
    }

    #[test]
    fn accounts_and_partitions() {
        assert_eq!(
            account_of(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
            ),
            Some("123456789012")
        );
        assert_eq!(account_of("arn:aws:s3:::bucket"), None);
        assert_eq!(account_of("not-an-arn"), None);
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
    }

    #[test]
    fn search_selects_as_yace_filters() {
        let t = Tagging {
            exported: vec!["team".into(), "env".into()],
            search: vec![SearchTag {
                key: "env".into(),
                value: regex::Regex::new("^(prod|staging)$").unwrap(),
            }],
        };
        let tags = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        assert!(t.selects(&tags(&[("env", "prod")])));
        assert!(!t.selects(&tags(&[("env", "production")])));
        // A resource without the searched key is not selected.
        assert!(!t.selects(&tags(&[("team", "x")])));
        assert!(Tagging::default().selects(&Tags::new()));
        assert_eq!(
            t.labels(&tags(&[("env", "prod")])),
            vec![
                ("tag_team".to_owned(), String::new()),
                ("tag_env".to_owned(), "prod".to_owned())
            ]
        );
    }

    #[test]
    fn info_has_every_tag_of_every_resource() {
        let f = info_family(
            "AWS/ApplicationELB",
            "eu-west-1",
            &[
                Tagged {
                    arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a/1"
                        .into(),
                    tags: [("team".to_owned(), "storage".to_owned())].into(),
                },
                Tagged {
                    arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/b/2"
                        .into(),
                    tags: [("env".to_owned(), "prod".to_owned())].into(),
                },
            ],
        );
        assert_eq!(f.name, "aws_applicationelb_info");
        let names: Vec<&str> = f.samples[0].labels.iter().map(|(k, _)| &**k).collect();
        assert_eq!(
            names,
            ["name", "account_id", "region", "tag_env", "tag_team"]
        );
        assert_eq!(f.samples[1].labels[1].1, "123456789012");
        assert_eq!(f.samples[1].labels[3].1, "prod");
        assert_eq!(f.samples[1].labels[4].1, "");
    }
}
