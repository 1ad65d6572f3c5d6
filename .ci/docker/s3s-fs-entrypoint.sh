#!/bin/sh
# Creates the bucket (a folder under /data) and serves S3 on port 9000 with
# the one key pair from the environment.
set -eu
: "${S3_BUCKET:?set S3_BUCKET}" "${S3_ACCESS_KEY_ID:?set S3_ACCESS_KEY_ID}" "${S3_SECRET_ACCESS_KEY:?set S3_SECRET_ACCESS_KEY}"
mkdir -p "/data/$S3_BUCKET"
exec s3s-fs --host 0.0.0.0 --port 9000 \
  --access-key "$S3_ACCESS_KEY_ID" --secret-key "$S3_SECRET_ACCESS_KEY" /data
