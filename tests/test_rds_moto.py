"""The RDS stack's resources, replayed against moto's EC2 and RDS APIs as the provider would create them.

The provider plugin cannot run here, so its calls are made with boto3 from what the program registered
(under mocks), argument by argument, against a moto server on 127.0.0.1: the security group with its
inline rules (terraform-provider-aws removes AWS's default allow-all egress rule when it creates a group
and writes exactly the inline ``egress``), the subnet group, the parameter group, the instance. Then what a
`pulumi destroy` would meet: deletion protection, and a final snapshot whose name must not exist yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from tests.pulumi_harness import MOCK_VPC, ProgramRun, run_program
from tests.variants import VARIANTS

REGION = "eu-central-1"


@pytest.fixture(scope="module")
def aws_api() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            clients = {
                service: boto3.client(
                    service,
                    region_name=REGION,
                    endpoint_url=f"http://{host}:{port}",
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                )
                for service in ("ec2", "rds")
            }
            yield clients
        finally:
            server.stop()


@pytest.fixture(scope="module")
def program() -> ProgramRun:
    return run_program(VARIANTS["aws-rds"]())


def _permissions(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    permissions = []
    for rule in rules:
        permission: dict[str, Any] = {
            "IpProtocol": rule["protocol"],
            # Numbers cross the engine's protobuf Struct as floats; the API takes integers.
            "FromPort": int(rule["fromPort"]),
            "ToPort": int(rule["toPort"]),
        }
        if rule.get("cidrBlocks"):
            permission["IpRanges"] = [
                {"CidrIp": cidr, "Description": rule["description"]} for cidr in rule["cidrBlocks"]
            ]
        if rule.get("ipv6CidrBlocks"):
            permission["Ipv6Ranges"] = [{"CidrIpv6": cidr} for cidr in rule["ipv6CidrBlocks"]]
        if rule.get("securityGroups"):
            permission["UserIdGroupPairs"] = [{"GroupId": group} for group in rule["securityGroups"]]
        permissions.append(permission)
    return permissions


def _replay(aws_api: dict[str, Any], program: ProgramRun, identifier_suffix: str = "") -> dict[str, Any]:
    ec2, rds = aws_api["ec2"], aws_api["rds"]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = [
        s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    ]
    group_inputs = program.one("aws:ec2/securityGroup:SecurityGroup", "mmr-dev-rds").inputs
    # The mocks answered with the default VPC's CIDR; moto's default VPC has the same (172.31.0.0/16).
    assert vpc["CidrBlock"] == MOCK_VPC["cidrBlock"]
    group_id = ec2.create_security_group(
        GroupName=f"mmr-dev-rds{identifier_suffix}", Description=group_inputs["description"], VpcId=vpc["VpcId"]
    )["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=_permissions(group_inputs["ingress"]))
    default_egress = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissionsEgress"]
    ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=default_egress)
    if group_inputs["egress"]:
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=_permissions(group_inputs["egress"]))

    subnet_group = f"mmr-dev-rds{identifier_suffix}-a1b2c3d"
    rds.create_db_subnet_group(
        DBSubnetGroupName=subnet_group,
        DBSubnetGroupDescription=program.one("aws:rds/subnetGroup:SubnetGroup").inputs["description"],
        SubnetIds=subnets,
    )
    parameters = program.one("aws:rds/parameterGroup:ParameterGroup").inputs
    parameter_group = f"mmr-dev-rds-17{identifier_suffix}-a1b2c3d"
    rds.create_db_parameter_group(
        DBParameterGroupName=parameter_group,
        DBParameterGroupFamily=parameters["family"],
        Description=parameters["description"],
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName=parameter_group,
        Parameters=[
            {"ParameterName": p["name"], "ParameterValue": p["value"], "ApplyMethod": p["applyMethod"]}
            for p in parameters["parameters"]
        ],
    )
    inputs = program.one("aws:rds/instance:Instance", "mmr-dev-rds").inputs
    identifier = inputs["identifier"] + identifier_suffix
    rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine=inputs["engine"],
        EngineVersion=inputs["engineVersion"],
        DBInstanceClass=inputs["instanceClass"],
        AllocatedStorage=int(inputs["allocatedStorage"]),
        MaxAllocatedStorage=int(inputs["maxAllocatedStorage"]),
        StorageType=inputs["storageType"],
        StorageEncrypted=inputs["storageEncrypted"],
        MasterUsername=inputs["username"],
        MasterUserPassword=inputs["password"],
        DBSubnetGroupName=subnet_group,
        VpcSecurityGroupIds=[group_id],
        DBParameterGroupName=parameter_group,
        PubliclyAccessible=inputs["publiclyAccessible"],
        MultiAZ=inputs["multiAz"],
        BackupRetentionPeriod=int(inputs["backupRetentionPeriod"]),
        PreferredBackupWindow=inputs["backupWindow"],
        PreferredMaintenanceWindow=inputs["maintenanceWindow"],
        AutoMinorVersionUpgrade=inputs["autoMinorVersionUpgrade"],
        DeletionProtection=inputs["deletionProtection"],
        CopyTagsToSnapshot=inputs["copyTagsToSnapshot"],
        EnablePerformanceInsights=inputs["performanceInsightsEnabled"],
        Tags=[{"Key": key, "Value": value} for key, value in inputs["tags"].items()],
    )
    return {"identifier": identifier, "group_id": group_id, "inputs": inputs}


def test_the_api_accepts_the_stack_and_keeps_what_it_asks(aws_api: dict[str, Any], program: ProgramRun) -> None:
    created = _replay(aws_api, program)
    [instance] = aws_api["rds"].describe_db_instances(DBInstanceIdentifier=created["identifier"])["DBInstances"]
    assert instance["StorageEncrypted"] is True
    assert instance["DeletionProtection"] is True
    assert instance["BackupRetentionPeriod"] == 7
    assert instance["PubliclyAccessible"] is False
    assert instance["StorageType"] == "gp3"
    assert instance["MaxAllocatedStorage"] == 100
    assert [g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]] == [created["group_id"]]
    [group] = aws_api["ec2"].describe_security_groups(GroupIds=[created["group_id"]])["SecurityGroups"]
    assert group["IpPermissionsEgress"] == []
    [rule] = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (5432, 5432)
    assert [r["CidrIp"] for r in rule["IpRanges"]] == ["172.31.0.0/16"]


def test_a_destroy_meets_deletion_protection_then_leaves_the_final_snapshot(
    aws_api: dict[str, Any], program: ProgramRun
) -> None:
    rds = aws_api["rds"]
    created = _replay(aws_api, program, identifier_suffix="-destroy")
    final = created["inputs"]["finalSnapshotIdentifier"] + "-destroy"
    with pytest.raises(ClientError, match=r"(?i)protection"):
        rds.delete_db_instance(
            DBInstanceIdentifier=created["identifier"], SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=final
        )
    # The safe destroy: database.protect false turns deletion protection off first.
    rds.modify_db_instance(DBInstanceIdentifier=created["identifier"], DeletionProtection=False, ApplyImmediately=True)
    rds.delete_db_instance(
        DBInstanceIdentifier=created["identifier"],
        SkipFinalSnapshot=False,
        FinalDBSnapshotIdentifier=final,
        DeleteAutomatedBackups=created["inputs"]["deleteAutomatedBackups"],
    )
    snapshots = rds.describe_db_snapshots(DBSnapshotIdentifier=final)["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snapshots] == [final]
    # Why the final snapshot's name changes with the instance: the same name a second time is refused.
    again = _replay(aws_api, program, identifier_suffix="-again")
    rds.modify_db_instance(DBInstanceIdentifier=again["identifier"], DeletionProtection=False, ApplyImmediately=True)
    with pytest.raises(ClientError, match=r"(?i)already exists"):
        rds.delete_db_instance(
            DBInstanceIdentifier=again["identifier"], SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=final
        )
