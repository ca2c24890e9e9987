"""The service's DynamoDB tables: teams' budgets and usage (core/budgets.py, core/callers.py), and
the Idempotency-Key records (core/idempotency.py).

On-demand (a few requests a second, in bursts), point-in-time recovery, records that expire by
their ``expires`` attribute, deletion protection, and kept when the stack is deleted: budgets
and usage are the account's history.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from core.topology import TABLES


class Tables(Construct):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.spend = self._table("Spend", *TABLES["spend"])
        self.idempotency = self._table("Idempotency", *TABLES["idempotency"])

    def _table(self, id: str, partition: str, sort: str | None, ttl: str) -> dynamodb.Table:
        string = dynamodb.AttributeType.STRING
        return dynamodb.Table(
            self,
            id,
            partition_key=dynamodb.Attribute(name=partition, type=string),
            sort_key=dynamodb.Attribute(name=sort, type=string) if sort else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=ttl,
            deletion_protection=True,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
