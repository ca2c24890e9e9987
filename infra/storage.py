"""Storage: the output bucket (images, manifests, async intermediates) and the input bucket
(uploads and triggers), both logged to an access-log bucket."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import layout
from core.topology import INPUT_BUCKET_ID, OUTPUT_BUCKET_ID

from .defaults import secure_bucket

ACCESS_LOG_DAYS = 90
NONCURRENT_VERSION_DAYS = 7


class Storage(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        output_retention_days: int,
        scratch_retention_days: int,
        cors_origins: Sequence[str],
    ) -> None:
        super().__init__(scope, id)
        self.access_logs = secure_bucket(
            self,
            "AccessLogs",
            access_logs=None,
            versioned=False,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(ACCESS_LOG_DAYS))],
        )
        # Overwritten objects stay recoverable for a week, then go.
        noncurrent = s3.LifecycleRule(
            noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )
        self.output_bucket = secure_bucket(
            self,
            OUTPUT_BUCKET_ID,
            access_logs=self.access_logs,
            lifecycle_rules=[
                noncurrent,
                s3.LifecycleRule(prefix=layout.OUTPUTS, expiration=Duration.days(output_retention_days)),
                s3.LifecycleRule(prefix=layout.JOBS, expiration=Duration.days(scratch_retention_days)),
            ],
            # Browsers may fetch the presigned image URLs directly.
            cors=[s3.CorsRule(allowed_methods=[s3.HttpMethods.GET], allowed_origins=list(cors_origins), max_age=3600)],
        )
        self.input_bucket = secure_bucket(
            self,
            INPUT_BUCKET_ID,
            access_logs=self.access_logs,
            lifecycle_rules=[
                noncurrent,
                s3.LifecycleRule(prefix=layout.UPLOADS, expiration=Duration.days(scratch_retention_days)),
            ],
            # Browsers may PUT uploads to the presigned URL directly.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.PUT],
                    allowed_origins=list(cors_origins),
                    allowed_headers=["Content-Type"],
                    max_age=3600,
                )
            ],
        )
