"""What an operator watches: alarms that notify an SNS topic, and one CloudWatch dashboard.

The service's own metrics come from the functions as embedded metric format lines
(``functions/handlers/core/metrics.py``): per model and task, and as totals without dimensions,
which the alarms watch. The rest are the services' own metrics.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from core import metrics

PERIOD = Duration.minutes(5)
# Thresholds per 5 minutes. One failure of the service itself is worth a look; jobs may also
# fail for their input (a filtered prompt), so a few are tolerated before anyone is paged.
THRESHOLDS = {"api_5xx": 5, "function_errors": 1, "executions_failed": 5, "throttles": 10, "dead_letters": 1}


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        api: apigw.RestApi,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.StateMachine,
        queue: sqs.IQueue,
        dead_letters: sqs.IQueue,
        alarm_email: str,
        webhook_dead_letters: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, id)
        # Not encrypted at rest: CloudWatch cannot publish to a topic under the AWS-managed SNS
        # key, and a notification carries no data. Publishers must use TLS.
        self.topic = sns.Topic(self, "Alarms", display_name="serverless-imagegen alarms", enforce_ssl=True)
        # enforce_ssl gives the topic a policy of its own, which replaces SNS's default one: without
        # this grant CloudWatch may not publish, and no alarm is ever sent. Only this account's
        # alarms in this region may (https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger,
        # https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []

        self._alarm(
            "DeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            THRESHOLDS["dead_letters"],
            "Triggered jobs failed past their retries: read the trigger function's logs, then redrive the queue",
        )
        if webhook_dead_letters is not None:
            self._alarm(
                "WebhookDeadLetters",
                webhook_dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                THRESHOLDS["dead_letters"],
                "Webhooks went undelivered for a day of retries: each job's view (webhook.lastError) says why; "
                "redrive the queue once the receiver answers",
            )
        self._alarm(
            "Api5xx",
            api.metric_server_error(period=PERIOD, statistic="Sum"),
            THRESHOLDS["api_5xx"],
            "The API answered 5xx: upstream_error/upstream_timeout (Bedrock) or internal (read the function logs)",
        )
        for module, function in sorted(functions.items()):
            self._alarm(
                f"{_pascal(module)}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                THRESHOLDS["function_errors"],
                f"The {module} function failed (an unhandled error, a timeout or out of memory): read its logs",
            )
        self._alarm(
            "ExecutionsFailed",
            state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            THRESHOLDS["executions_failed"],
            "Async jobs failed: each one's manifest (outputs/<id>/manifest.json) holds the error",
        )
        self._alarm(
            "Throttles",
            _service_metric(metrics.THROTTLES, "Sum"),
            THRESHOLDS["throttles"],
            "Bedrock throttled model calls after retries: request a quota increase or lower the load",
        )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=None, default_interval=Duration.hours(3)
        )
        self.dashboard.add_widgets(
            _graph("Images generated per model", [_search(metrics.IMAGES_GENERATED, "Sum")]),
            _graph(
                "Model latency (ms), p50 and p90",
                [_search(metrics.MODEL_LATENCY, "p50", "p50 "), _search(metrics.MODEL_LATENCY, "p90", "p90 ")],
            ),
            _graph(
                "Filtered images and throttles",
                [_service_metric(metrics.IMAGES_FILTERED, "Sum"), _service_metric(metrics.THROTTLES, "Sum")],
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "API latency (ms)",
                [api.metric_latency(period=PERIOD, statistic=stat, label=stat) for stat in ("p50", "p90", "p99")],
            ),
            _graph(
                "API errors",
                [
                    api.metric_client_error(period=PERIOD, statistic="Sum", label="4xx"),
                    api.metric_server_error(period=PERIOD, statistic="Sum", label="5xx"),
                ],
            ),
            _graph(
                "Job failures",
                [
                    _service_metric(metrics.JOBS_FAILED, "Sum"),
                    state_machine.metric_failed(period=PERIOD, statistic="Sum", label="Failed executions"),
                ],
            ),
            _graph(
                "Trigger queues",
                [
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, label="Queued"),
                    dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD, label="Dead letters"),
                ],
            ),
        )
        day = Duration.days(1)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Spend per day (USD at published prices)",
                left=[
                    cloudwatch.Metric(
                        namespace=metrics.NAMESPACE,
                        metric_name=metrics.ESTIMATED_COST,
                        statistic="Sum",
                        period=day,
                        label="All models",
                    ),
                    _search(metrics.ESTIMATED_COST, "Sum", period=day),
                ],
                width=16,
                height=6,
                period=day,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=8),
        )

    def _alarm(self, id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            f"{id}Alarm",
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # No data is no trouble: a quiet API has no errors.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)


def _service_metric(name: str, statistic: str) -> cloudwatch.Metric:
    """A metric of the service as a whole (the EMF lines' dimensionless copy)."""
    return cloudwatch.Metric(namespace=metrics.NAMESPACE, metric_name=name, statistic=statistic, period=PERIOD)


def _search(name: str, statistic: str, label: str = "", period: Duration = PERIOD) -> cloudwatch.MathExpression:
    """One line per model and task, whichever have reported (a CloudWatch SEARCH)."""
    dimensions = ",".join(metrics.DIMENSIONS)
    seconds = int(period.to_seconds())
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{metrics.NAMESPACE},{dimensions}}} MetricName=\"{name}\"', '{statistic}', {seconds})",
        label=label,
        period=period,
    )


def _graph(title: str, lines: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=lines, width=8, height=6)


def _pascal(module: str) -> str:
    return "".join(part.title() for part in module.split("_"))
