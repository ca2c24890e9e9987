"""Storage: the output bucket (images, manifests, async intermediates) and the input bucket
(uploads and triggers), both logged to an access-log bucket."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import layout
from core.http import CORS_MAX_AGE_SECONDS
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
        # Overwritten objects stay recoverable for a week, then go; so do the delete markers
        # that expiry leaves behind once no version is under them.
        noncurrent = s3.LifecycleRule(
            noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
            abort_incomplete_multipart_upload_after=Duration.days(1),
            expired_object_delete_marker=True,
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
            # Pages of the allowed origins may fetch the presigned image URLs with script.
            cors=_cors(s3.HttpMethods.GET, cors_origins),
        )
        self.input_bucket = secure_bucket(
            self,
            INPUT_BUCKET_ID,
            access_logs=self.access_logs,
            lifecycle_rules=[
                noncurrent,
                s3.LifecycleRule(prefix=layout.UPLOADS, expiration=Duration.days(scratch_retention_days)),
            ],
            # Pages of the allowed origins may POST uploads to the presigned form directly.
            cors=_cors(s3.HttpMethods.POST, cors_origins),
        )

    def allow_page(self, origin: str) -> None:
        """Let ``origin``'s pages (the playground, beside the API) POST the presigned upload form
        and fetch the presigned image URLs, which its download buttons save under the job's name."""
        for bucket, method in ((self.input_bucket, s3.HttpMethods.POST), (self.output_bucket, s3.HttpMethods.GET)):
            bucket.add_cors_rule(allowed_methods=[method], allowed_origins=[origin], max_age=CORS_MAX_AGE_SECONDS)


def _cors(method: s3.HttpMethods, origins: Sequence[str]) -> list[s3.CorsRule]:
    if not origins:
        return []
    return [s3.CorsRule(allowed_methods=[method], allowed_origins=list(origins), max_age=CORS_MAX_AGE_SECONDS)]
