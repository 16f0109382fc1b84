#!/usr/bin/env python3
"""Creates things in moto's AWS Secrets Manager (and IAM) with boto3, for modelseal's tests.

Usage: sm_admin.py ENDPOINT COMMAND [ARGS]
  create NAME      create secret NAME with the value read from stdin; prints its VersionId
  put NAME         store a new version (AWSCURRENT) of NAME, value from stdin; prints its VersionId
  iam-setup        the first requests to a server started with INITIAL_NO_AUTH_ACTION_COUNT=6:
                   an admin user allowed everything and a reader allowed only DescribeSecret;
                   prints "ADMIN_KEY ADMIN_SECRET READER_KEY READER_SECRET"

Credentials and region come from the environment (the tests set dummy ones). Values are read from
stdin so that no secret appears in a process list.
"""

from __future__ import annotations

import json
import sys

import boto3


def main() -> None:
    endpoint, command, *args = sys.argv[1:]
    if command == "iam-setup":
        iam = boto3.client("iam", endpoint_url=endpoint)
        keys = []
        for user, action in (("admin", "*"), ("reader", "secretsmanager:DescribeSecret")):
            iam.create_user(UserName=user)
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
            }
            iam.put_user_policy(
                UserName=user, PolicyName=f"{user}-policy", PolicyDocument=json.dumps(policy)
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys += [key["AccessKeyId"], key["SecretAccessKey"]]
        print(" ".join(keys))
        return
    sm = boto3.client("secretsmanager", endpoint_url=endpoint)
    value = sys.stdin.read()
    if command == "create":
        print(sm.create_secret(Name=args[0], SecretString=value)["VersionId"])
    elif command == "put":
        print(sm.put_secret_value(SecretId=args[0], SecretString=value)["VersionId"])
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
