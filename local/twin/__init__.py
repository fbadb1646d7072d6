"""The local twin: docker-compose.yml as local processes, from the same files.

    python -m local.twin up [--scale-api N]   # db -> migrate (one-shot) -> api xN -> nginx
    python -m local.twin down                 # stops what `up` started (by the PIDs it recorded)
    python -m local.twin run -- CMD ...       # a command with the migrate service's environment

One module per compose service (db, migrate, api, nginx), each running what the image runs:
PostgreSQL runs db/init/*.sh on a new data directory, as the postgres image does on an empty
volume; `migrate` runs the compose service's `command` with the owner's credentials; each api
instance runs the api image's CMD (gunicorn -c gunicorn.conf.py) with the app role's only;
nginx renders nginx/templates/default.conf.template as the image's entrypoint does. Which env
files reach which process is read from docker-compose.yml itself. The test suite drives the
same classes with its own state directory and free ports.
"""

from local.twin.api import Api
from local.twin.compose import ROOT, service_env
from local.twin.db import Postgres
from local.twin.migrate import Migrate
from local.twin.nginx import TEMPLATE, Nginx, render_template, unlimited
from local.twin.processes import (
    TICKS,
    ProcessSample,
    TwinError,
    free_port,
    pid_alive,
    process_tree,
    stop_pid,
    wait_gone,
    wait_http,
)
from local.twin.stack import Ports, Stack

__all__ = [
    "ROOT", "TEMPLATE", "TICKS", "Api", "Migrate", "Nginx", "Ports", "Postgres", "ProcessSample",
    "Stack", "TwinError",
    "free_port", "pid_alive", "process_tree", "render_template", "service_env", "stop_pid",
    "unlimited", "wait_gone", "wait_http",
]
