#!/usr/bin/env python3
"""Fills the moto AWS emulator with a small example storage-service estate for scripts/demo, then
keeps CloudWatch datapoints coming: an ELB with four instances (one stopped), an ALB whose
target group has the three running ones and an NLB (all three tagged team and env), a memcached ElastiCache cluster (moto lists it but
gives no nodes), an RDS MySQL instance, backups (a snapshotted volume, a manual RDS
snapshot, a zone export in S3), and Latency / CPUUtilization datapoints every 30
seconds (ELB latency and response codes, ALB requests and responses, NLB flows, cache and
database CPU). Runs until killed.

usage: demo_aws.py MOTO_URL
"""
import datetime
import random
import sys
import time
import urllib.request

import boto3

MOTO = sys.argv[1]
KW = dict(endpoint_url=MOTO, region_name="us-west-2", aws_access_key_id="demo", aws_secret_access_key="demo")

urllib.request.urlopen(urllib.request.Request(MOTO + "/moto-api/reset", method="POST"))
ec2 = boto3.client("ec2", **KW)
ids = [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-12c6146b", MinCount=4, MaxCount=4)["Instances"]]
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnets = [
    ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"us-west-2{z}")["Subnet"]["SubnetId"]
    for n, z in ((1, "a"), (2, "b"))
]
elbv2 = boto3.client("elbv2", **KW)
TAGS = [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": "prod"}]
alb = elbv2.create_load_balancer(Name="osdp-webdav-alb-proddc1", Subnets=subnets, Type="application", Tags=TAGS)["LoadBalancers"][0]
# An NLB without target groups, for its CloudWatch traffic (nlb_metrics).
nlb = elbv2.create_load_balancer(Name="osdp-webdav-nlb-proddc1", Subnets=subnets, Type="network", Tags=TAGS)["LoadBalancers"][0]
# CloudWatch's LoadBalancer dimension of an ALB/NLB: the ARN after "loadbalancer/".
ALB_DIM = alb["LoadBalancerArn"].split(":loadbalancer/")[1]
NLB_DIM = nlb["LoadBalancerArn"].split(":loadbalancer/")[1]
tg = elbv2.create_target_group(Name="osdp-webdav", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance")["TargetGroups"][0]
elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": i} for i in ids[:3]])
elbv2.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                      DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
ec2.stop_instances(InstanceIds=ids[3:])
boto3.client("elasticache", **KW).create_cache_cluster(
    CacheClusterId="osdp-memc-proddc1", Engine="memcached", CacheNodeType="cache.m5.large", NumCacheNodes=2)
elb = boto3.client("elb", **KW)
elb.create_load_balancer(
    LoadBalancerName="osdp-storage-elb-proddc1",
    AvailabilityZones=["us-west-2a"],
    Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 8080}],
    Tags=TAGS,
)
elb.register_instances_with_load_balancer(
    LoadBalancerName="osdp-storage-elb-proddc1", Instances=[{"InstanceId": i} for i in ids]
)
rds = boto3.client("rds", **KW)
rds.create_db_instance(
    DBInstanceIdentifier="osdp-db-proddc1", DBInstanceClass="db.r5.2xlarge", Engine="mysql",
    AllocatedStorage=500, MasterUsername="admin", MasterUserPassword="demo-only-password",
    MultiAZ=True, StorageEncrypted=True, BackupRetentionPeriod=7, PubliclyAccessible=False,
)
# Backups for the backups target: a tagged data volume with a snapshot, a manual snapshot of
# the database beside moto's automated one, and the zone's export in S3.
vol = ec2.create_volume(AvailabilityZone="us-west-2a", Size=500, TagSpecifications=[
    {"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "daily"}]}])["VolumeId"]
ec2.create_snapshot(VolumeId=vol, Description="osdp-storage-data daily")
rds.create_db_snapshot(DBInstanceIdentifier="osdp-db-proddc1", DBSnapshotIdentifier="osdp-db-proddc1-before-cutover")
s3 = boto3.client("s3", **KW)
s3.create_bucket(Bucket="osdp-zone-exports", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
s3.put_object(Bucket="osdp-zone-exports", Key="route53/example.com/export.zone", Body=b"storage.example.com. 300 IN A 192.0.2.10\n")
cw = boto3.client("cloudwatch", **KW)
while True:
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=3)
    cw.put_metric_data(Namespace="AWS/ELB", MetricData=[{
        "MetricName": "Latency", "Timestamp": t, "Value": random.uniform(0.05, 0.4), "Unit": "Seconds",
        "Dimensions": [{"Name": "LoadBalancerName", "Value": "osdp-storage-elb-proddc1"}]}])
    # Requests and responses by class, as the load balancer counts them per minute.
    cw.put_metric_data(Namespace="AWS/ELB", MetricData=[{
        "MetricName": name, "Timestamp": t, "Value": float(random.randint(lo, hi)), "Unit": "Count",
        "Dimensions": [{"Name": "LoadBalancerName", "Value": "osdp-storage-elb-proddc1"}]}
        for name, lo, hi in (("RequestCount", 950, 1150), ("HTTPCode_Backend_2XX", 900, 1100), ("HTTPCode_Backend_4XX", 5, 30),
                             ("HTTPCode_Backend_5XX", 0, 3), ("HTTPCode_ELB_5XX", 0, 2))])
    # The ALB's requests, response time and responses by class; the NLB's flows.
    cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
        "MetricName": name, "Timestamp": t, "Value": value, "Unit": unit,
        "Dimensions": [{"Name": "LoadBalancer", "Value": ALB_DIM}]}
        for name, value, unit in (
            ("RequestCount", float(random.randint(400, 600)), "Count"),
            ("TargetResponseTime", random.uniform(0.02, 0.2), "Seconds"),
            ("HTTPCode_Target_2XX_Count", float(random.randint(380, 560)), "Count"),
            ("HTTPCode_Target_4XX_Count", float(random.randint(5, 20)), "Count"),
            ("HTTPCode_Target_5XX_Count", float(random.randint(0, 3)), "Count"),
            ("HTTPCode_ELB_5XX_Count", float(random.randint(0, 2)), "Count"))])
    cw.put_metric_data(Namespace="AWS/NetworkELB", MetricData=[{
        "MetricName": "ActiveFlowCount", "Timestamp": t, "Value": float(random.randint(20, 60)), "Unit": "Count",
        "Dimensions": [{"Name": "LoadBalancer", "Value": NLB_DIM}]}])
    cw.put_metric_data(Namespace="AWS/ElastiCache", MetricData=[{
        "MetricName": "CPUUtilization", "Timestamp": t, "Value": random.uniform(2, 6), "Unit": "Percent",
        "Dimensions": [{"Name": "CacheClusterId", "Value": "osdp-memc-proddc1"}, {"Name": "CacheNodeId", "Value": "0001"}]}])
    # The RDS instance's CPU: the demo's capacity target gets a CPU ceiling from it.
    cw.put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "CPUUtilization", "Timestamp": t, "Value": random.uniform(20, 35), "Unit": "Percent",
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "osdp-db-proddc1"}]}])
    time.sleep(30)
