#!/usr/bin/env python3
"""Rebuilds catalog/prices.yaml from the AWS Price List bulk files (the offer files).

    catalog/update-prices.py --region us-east-1 [--region eu-west-1 ...] --out catalog/prices.yaml
    catalog/update-prices.py --base DIR ...     # a local copy laid out as the bulk API serves it

For each service (AmazonRDS, AmazonElastiCache, AmazonEC2, AWSELB) it reads the service's
region index (/offers/v1.0/aws/<offer>/current/region_index.json), then the offer file of each
region asked for (the region index's currentVersionUrl), and keeps the on-demand prices of
what headroom's cost estimate prices: RDS instances (MySQL, MariaDB, PostgreSQL, no license,
single- and Multi-AZ), RDS storage and provisioned IOPS, ElastiCache nodes, EBS volumes and
their provisioned IOPS, EC2 instances (Linux, shared tenancy), load balancer hours (classic,
application, network). AmazonCloudWatch's GetMetricData price is compared with the one the
cloudwatch source assumes ($0.01 per 1,000 metrics) and a difference is reported.

The files' layout is AWS's: "Getting price list files using the AWS Price List Bulk API" and
"Reading the service price list files" (JSON: formatVersion, disclaimer, offerCode, version,
publicationDate, products by SKU with productFamily and attributes, terms.OnDemand by SKU and
offer term with priceDimensions carrying unit and pricePerUnit.USD), in the AWS Billing User
Guide (docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-ppslong.html and
reading-service-price-list-files.html). The attribute names per service (instanceType,
databaseEngine, deploymentOption, volumeApiName, ...) are the offer files' own.

Standard library only. Each source cited in the output names the offer file, its version and
its publicationDate; `read` is today's date.
"""
import argparse
import datetime
import json
import os
import sys
import urllib.request
from collections import OrderedDict

DEFAULT_BASE = "https://pricing.us-east-1.amazonaws.com"
OFFERS = ["AmazonRDS", "AmazonElastiCache", "AmazonEC2", "AWSELB", "AmazonCloudWatch"]

RDS_ENGINES = {"MySQL": "mysql", "MariaDB": "mariadb", "PostgreSQL": "postgres"}
RDS_DEPLOYMENTS = {"Single-AZ": "single-az", "Multi-AZ": "multi-az"}
# RDS storage volumeType -> the API's StorageType.
RDS_VOLUMES = {
    "General Purpose": "gp2",
    "General Purpose-GP3": "gp3",
    "Provisioned IOPS": "io1",
    "Provisioned IOPS-IO2": "io2",
    "Magnetic": "standard",
}
LB_FAMILIES = {
    "Load Balancer": "classic",
    "Load Balancer-Application": "application",
    "Load Balancer-Network": "network",
}
# IOPS the storage price includes (gp3's baseline).
INCLUDED_IOPS = {"gp3": 3000}
# What headroom's cloudwatch source assumes (src/sources/aws/plan.rs).
HEADROOM_GMD_USD_PER_1000 = 0.01


def fetch(base, path):
    """The JSON at `path` under `base` (a URL or a directory)."""
    if base.startswith("http://") or base.startswith("https://"):
        with urllib.request.urlopen(base.rstrip("/") + path, timeout=300) as r:
            return json.load(r)
    with open(os.path.join(base, path.lstrip("/")), encoding="utf-8") as f:
        return json.load(f)


def on_demand(offer, sku):
    """(unit, USD per unit) of a SKU's on-demand price: its first dimension starting at 0."""
    for term in offer.get("terms", {}).get("OnDemand", {}).get(sku, {}).values():
        for dim in term.get("priceDimensions", {}).values():
            if dim.get("beginRange", dim.get("startingRange", "0")) not in ("0", 0):
                continue
            usd = dim.get("pricePerUnit", {}).get("USD")
            if usd is not None:
                return dim.get("unit", ""), float(usd)
    return None


def rows_of(offer, region):
    """Price rows (dicts) of one offer file."""
    code = offer["offerCode"]
    out = []
    for sku, p in offer.get("products", {}).items():
        a = p.get("attributes", {})
        if a.get("regionCode", region) != region:
            continue
        price = on_demand(offer, sku)
        if price is None:
            continue
        unit, usd = price
        fam = p.get("productFamily", "")
        row = None
        if code == "AmazonRDS":
            dep = RDS_DEPLOYMENTS.get(a.get("deploymentOption"))
            if dep is None:
                continue
            if fam == "Database Instance" and unit == "Hrs":
                engine = RDS_ENGINES.get(a.get("databaseEngine"))
                if engine is None or a.get("licenseModel", "No license required") != "No license required":
                    continue
                row = dict(service="rds", item=a["instanceType"], unit="hour", engines=[engine], deployment=dep)
            elif fam == "Database Storage" and unit == "GB-Mo":
                if a.get("databaseEngine", "Any") not in ("Any", "MySQL"):
                    continue
                vol = RDS_VOLUMES.get(a.get("volumeType"))
                if vol is None:
                    continue
                row = dict(service="rds", item=vol, unit="gb_month", deployment=dep)
            elif fam == "Provisioned IOPS" and unit == "IOPS-Mo":
                if a.get("databaseEngine", "Any") not in ("Any", "MySQL"):
                    continue
                # gp3's and io2's IOPS are told apart by the usage type where the volume type
                # is absent (e.g. RDS:GP3-PIOPS).
                usage = a.get("usagetype", "").upper()
                vol = "gp3" if "GP3" in usage else "io2" if "IO2" in usage else RDS_VOLUMES.get(a.get("volumeType", "Provisioned IOPS"))
                if vol is None:
                    continue
                row = dict(service="rds", item=vol, unit="iops_month", deployment=dep, included=INCLUDED_IOPS.get(vol, 0))
        elif code == "AmazonElastiCache":
            if fam == "Cache Instance" and unit == "Hrs" and a.get("instanceType", "").startswith("cache."):
                engine = a.get("cacheEngine", "").lower()
                row = dict(service="elasticache", item=a["instanceType"], unit="hour", engines=[engine] if engine else None)
        elif code == "AmazonEC2":
            if fam == "Compute Instance" and unit == "Hrs":
                if (a.get("operatingSystem"), a.get("tenancy"), a.get("preInstalledSw", "NA"), a.get("capacitystatus", "Used")) != ("Linux", "Shared", "NA", "Used"):
                    continue
                row = dict(service="ec2", item=a["instanceType"], unit="hour")
            elif fam == "Storage" and unit == "GB-Mo" and a.get("volumeApiName"):
                row = dict(service="ebs", item=a["volumeApiName"], unit="gb_month")
            elif fam == "System Operation" and unit == "IOPS-Mo" and a.get("volumeApiName"):
                vol = a["volumeApiName"]
                row = dict(service="ebs", item=vol, unit="iops_month", included=INCLUDED_IOPS.get(vol, 0))
        elif code == "AWSELB":
            kind = LB_FAMILIES.get(fam)
            if kind and unit == "Hrs" and a.get("usagetype", "").endswith("LoadBalancerUsage"):
                row = dict(service="elb", item=kind, unit="hour")
        if row is not None:
            row["region"] = region
            row["usd"] = usd
            out.append(row)
    return out


def cloudwatch_check(offer, region):
    """A warning when GetMetricData does not cost what headroom assumes, else None."""
    for sku, p in offer.get("products", {}).items():
        a = p.get("attributes", {})
        if a.get("regionCode", region) != region or not a.get("usagetype", "").endswith("GMD-Metrics"):
            continue
        price = on_demand(offer, sku)
        if price and abs(price[1] * 1000 - HEADROOM_GMD_USD_PER_1000) > 1e-9:
            return (
                f"{region}: GetMetricData costs ${price[1] * 1000:g} per 1,000 metrics, headroom's "
                f"cloudwatch source assumes ${HEADROOM_GMD_USD_PER_1000:g} (src/sources/aws/plan.rs)"
            )
    return None


def merge(rows):
    """Rows differing only in engine, with the same price, become one row naming them all."""
    merged = OrderedDict()
    for r in rows:
        key = tuple((k, json.dumps(v)) for k, v in sorted(r.items()) if k != "engines")
        if key in merged and r.get("engines") and merged[key].get("engines"):
            for e in r["engines"]:
                if e not in merged[key]["engines"]:
                    merged[key]["engines"].append(e)
        elif key not in merged:
            merged[key] = dict(r, engines=list(r["engines"])) if r.get("engines") else dict(r)
    return list(merged.values())


def yaml_str(s):
    return json.dumps(s)


def render(sources, rows):
    lines = [
        "# Prices the cost estimate multiplies the estate by (headroom_cost_monthly_usd, the capacity",
        "# report's cost of the current and the recommended class). USD, on-demand, before tax.",
        "# Built by catalog/update-prices.py from the AWS Price List bulk files: do not edit by hand,",
        "# add rows under a cost target's `prices` in the config instead.",
        "sources:",
    ]
    for key, s in sources.items():
        lines.append(f"  {key}:")
        lines.append(f"    cite: {yaml_str(s['cite'])}")
        lines.append(f"    date: {s['date']}")
        lines.append(f"    read: {s['read']}")
        lines.append("    third_party: false")
    lines.append("prices:")
    order = ["service", "region", "item", "engines", "deployment", "unit", "included", "usd", "source"]
    for r in rows:
        parts = []
        for k in order:
            if k not in r or r[k] is None or (k == "included" and not r[k]):
                continue
            v = r[k]
            if k == "engines":
                v = "[" + ", ".join(v) + "]"
            elif k == "usd":
                v = repr(v)
            elif isinstance(v, str):
                v = yaml_str(v) if any(c in v for c in ":#{}[],") else v
            parts.append(f"{k}: {v}")
        lines.append("  - {" + ", ".join(parts) + "}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--region", action="append", required=True, help="AWS region, e.g. us-east-1 (repeat for more)")
    ap.add_argument("--base", default=DEFAULT_BASE, help=f"where the bulk files are: a URL or a directory (default {DEFAULT_BASE})")
    ap.add_argument("--out", help="file to write (default: standard output)")
    ap.add_argument("--today", default=datetime.date.today().isoformat(), help="the `read` date written (default: today)")
    args = ap.parse_args(argv)
    sources = OrderedDict()
    rows = []
    warnings = []
    for code in OFFERS:
        index = fetch(args.base, f"/offers/v1.0/aws/{code}/current/region_index.json")
        for region in args.region:
            at = index.get("regions", {}).get(region)
            if at is None:
                warnings.append(f"{code}: no offer file for {region}")
                continue
            url = at["currentVersionUrl"]
            offer = fetch(args.base, url)
            if code == "AmazonCloudWatch":
                w = cloudwatch_check(offer, region)
                if w:
                    warnings.append(w)
                continue
            key = f"{code}-{region}"
            sources[key] = dict(
                cite=f"AWS Price List bulk API, {code} offer file version {offer.get('version', '?')} for {region} ({DEFAULT_BASE}{url})",
                date=str(offer.get("publicationDate", ""))[:10],
                read=args.today,
            )
            for r in merge(rows_of(offer, region)):
                r["source"] = key
                rows.append(r)
    text = render(sources, rows)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    for w in warnings:
        print(f"update-prices: {w}", file=sys.stderr)
    print(f"update-prices: {len(rows)} rows from {len(sources)} offer files", file=sys.stderr)


if __name__ == "__main__":
    main()
