#!/bin/sh
# The API's start command, used by the image's CMD and by the local twin alike:
# prepare the database once (migrate, seed, train if needed; safe under concurrency),
# then hand the process over to gunicorn.
set -eu
cd "$(dirname "$0")"
python -m app prestart
exec gunicorn -c gunicorn.conf.py
