"""The one core every Lambda handler adapts: configuration, clients, Bedrock, storage, jobs.

Handlers stay one or two lines over it. Modules here import boto3 at most; pydantic and the
``imagegen`` schemas load on the first request that needs them.
"""
