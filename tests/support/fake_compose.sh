#!/bin/sh
# Stands in for `docker compose` when the tests run the Makefile's backup and restore recipes:
# `exec -T db CMD...` runs CMD here, in the environment the test gives it (the db container's
# variables, pointed at a twin's PostgreSQL). Anything else is refused.
[ "$1 $2 $3" = "exec -T db" ] || { echo "fake compose: unexpected: $*" >&2; exit 2; }
shift 3
exec "$@"
