#!/bin/sh
# A Sentinel's start in compose.yaml: its configuration is a copy of /etc/redis/sentinel.conf made
# on its first start in /data (its volume), which it rewrites as it learns; then the image's own
# entrypoint, which gives /data to the redis user and runs the command as that user.
set -eu
[ -f /data/sentinel.conf ] || cp /etc/redis/sentinel.conf /data/sentinel.conf
exec docker-entrypoint.sh "$@"
