"""The RDS instance of ``database.provider: aws`` and what fences it in, as children of ``MediaDatabase``.

pulumi_aws bridges terraform-provider-aws; the behaviour relied on is that provider's
(internal/service/rds/instance.go at 00e4b23, ``ResourceInstance``): ``identifier``, ``username`` and
``storage_encrypted`` force a replacement when changed; ``skip_final_snapshot`` defaults to false and
then needs ``final_snapshot_identifier``; ``delete_automated_backups`` defaults to true, which would
drop every point-in-time backup with the instance; ``publicly_accessible`` defaults to false.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from config_schema.database import Database
from config_schema.rds import ADMIN_USER, rds_name

POSTGRES_PORT = 5432


@dataclass(frozen=True)
class RdsInstance:
    instance: aws.rds.Instance
    security_group: aws.ec2.SecurityGroup
    subnet_group: aws.rds.SubnetGroup
    admin_password: pulumi.Output[str]


def _network(database: Database) -> tuple[pulumi.Output[str], pulumi.Output[list[str]], pulumi.Output[str]]:
    """(VPC id, subnet ids, the VPC's CIDR): the default VPC's, or those of the subnets the stack names."""
    settings = database.aws
    if settings.subnet_ids:
        first = aws.ec2.get_subnet_output(id=settings.subnet_ids[0])
        vpc = aws.ec2.get_vpc_output(id=first.vpc_id)
        return vpc.id, pulumi.Output.from_input(list(settings.subnet_ids)), vpc.cidr_block
    vpc = aws.ec2.get_vpc_output(default=True)
    subnets = aws.ec2.get_subnets_output(
        filters=vpc.id.apply(lambda vpc_id: [aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc_id])])
    )
    return vpc.id, subnets.ids, vpc.cidr_block


def _ingress(database: Database, vpc_cidr: pulumi.Output[str]) -> list[aws.ec2.SecurityGroupIngressArgs]:
    """5432 from the trusted sources only; from the VPC itself when none is named and the instance is private."""
    rules = []
    for source in database.trusted_sources:
        if source.type == "security_group":
            rules.append(
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=POSTGRES_PORT,
                    to_port=POSTGRES_PORT,
                    security_groups=[source.value],
                    description="MMR (a security group)",
                )
            )
        else:
            ipv6 = ":" in source.value
            cidr = source.value if "/" in source.value else f"{source.value}/{128 if ipv6 else 32}"
            rules.append(
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=POSTGRES_PORT,
                    to_port=POSTGRES_PORT,
                    cidr_blocks=None if ipv6 else [cidr],
                    ipv6_cidr_blocks=[cidr] if ipv6 else None,
                    description="MMR (an address)",
                )
            )
    if not rules:
        # Validation refuses a public instance without sources, so this one is private: MMR is in the VPC.
        rules.append(
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp",
                from_port=POSTGRES_PORT,
                to_port=POSTGRES_PORT,
                cidr_blocks=[vpc_cidr],
                description="MMR (inside the VPC)",
            )
        )
    return rules


def create_rds_instance(owner: pulumi.ComponentResource, name: str, database: Database) -> RdsInstance:
    settings = database.aws
    stateful = pulumi.ResourceOptions(parent=owner, protect=database.protect, retain_on_delete=database.protect)
    child = pulumi.ResourceOptions(parent=owner)
    # The instance keeps this password from its creation on: as protected as the instance.
    admin_password = random.RandomPassword(
        f"{name}-rds-admin-password",
        length=32,
        special=True,
        # RDS refuses '/', '"', '@' and spaces in a master password.
        override_special="%:?#_-",
        opts=stateful,
    )
    vpc_id, subnet_ids, vpc_cidr = _network(database)
    security_group = aws.ec2.SecurityGroup(
        f"{name}-rds",
        vpc_id=vpc_id,
        description=f"MMR's Postgres ({name}): 5432 from MMR only",
        ingress=_ingress(database, vpc_cidr),
        # An inline empty list removes every egress rule: a database starts no connection.
        egress=[],
        opts=child,
    )
    subnet_group = aws.rds.SubnetGroup(
        f"{name}-rds", subnet_ids=subnet_ids, description=f"MMR's Postgres ({name})", opts=child
    )
    major = database.postgres_version
    parameters = aws.rds.ParameterGroup(
        f"{name}-rds-{major}",
        family=f"postgres{major}",
        description=f"MMR's Postgres {major} ({name}): TLS only",
        parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
        # A new major gets a new group, which the instance takes only in the maintenance window: the old one,
        # still attached until then, cannot be deleted by the same `pulumi up`, so it is left in the account.
        opts=pulumi.ResourceOptions(parent=owner, retain_on_delete=True),
    )
    identifier = rds_name(name)
    # The final snapshot's name is new whenever the instance would be new (identifier, major): a replaced
    # instance never collides with the snapshot its predecessor left.
    snapshot_suffix = random.RandomId(
        f"{name}-rds-final-snapshot",
        byte_length=4,
        keepers={"identifier": identifier, "major": major},
        opts=child,
    )
    instance = aws.rds.Instance(
        f"{name}-rds",
        identifier=identifier,
        engine="postgres",
        # A major alone: RDS takes its newest minor, and auto_minor_version_upgrade follows the minors.
        engine_version=major,
        instance_class=settings.instance_class,
        allocated_storage=settings.allocated_storage_gb,
        max_allocated_storage=settings.max_allocated_storage_gb,
        storage_type="gp3",
        storage_encrypted=True,
        username=ADMIN_USER,
        password=pulumi.Output.secret(admin_password.result),
        db_subnet_group_name=subnet_group.name,
        vpc_security_group_ids=[security_group.id],
        parameter_group_name=parameters.name,
        publicly_accessible=settings.publicly_accessible,
        multi_az=settings.multi_az,
        backup_retention_period=settings.backup_retention_days,
        backup_window=settings.backup_window,
        maintenance_window=settings.maintenance_window,
        auto_minor_version_upgrade=True,
        # database.postgresVersion moves the major in place, in the maintenance window; RDS snapshots the
        # instance before a major upgrade, and a major never goes down (docs/operations.md, "RDS").
        allow_major_version_upgrade=True,
        apply_immediately=False,
        deletion_protection=database.protect,
        skip_final_snapshot=False,
        final_snapshot_identifier=snapshot_suffix.hex.apply(lambda suffix: rds_name(name, f"-final-{suffix}")),
        delete_automated_backups=False,
        copy_tags_to_snapshot=True,
        performance_insights_enabled=settings.performance_insights,
        tags={"matrix-media-repo.org/stack": name},
        opts=stateful,
    )
    return RdsInstance(instance, security_group, subnet_group, pulumi.Output.secret(admin_password.result))
