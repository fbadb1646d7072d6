"""The one gunicorn configuration: the image's CMD and the local twin both run
`gunicorn -c gunicorn.conf.py`. Values come from the environment via ServerSettings
(API_BIND, WEB_CONCURRENCY, FORWARDED_ALLOW_IPS, LOG_LEVEL)."""

import logging
from typing import Any

from app.core.logging_config import logging_config
from app.core.settings import ServerSettings, load

_server = load(ServerSettings)

wsgi_app = "app.web.main:create_app()"
worker_class = "uvicorn_worker.UvicornWorker"
bind = [_server.api_bind]
workers = _server.web_concurrency
# Each worker loads the model from PostgreSQL in its lifespan; nothing is shared by forking.
preload_app = False
# Trust X-Forwarded-For/-Proto only from the proxy in front of us.
forwarded_allow_ips = _server.forwarded_allow_ips
timeout = 30
graceful_timeout = 20
# uvicorn's keep-alive: longer than nginx's upstream keepalive_timeout, so nginx always
# closes an idle connection first and never reuses one uvicorn is closing (a sporadic 502).
keepalive = 15
loglevel = _server.log_level
# Every line JSON (app.core.logging_config.logging_config); the app writes one access line per
# request itself, with the route and request id, so gunicorn's own access log stays off.
accesslog = None
errorlog = "-"
logconfig_dict = logging_config(_server.log_level)
# No control socket (gunicornc): nothing uses it, and its default place, $HOME/.gunicorn,
# is read-only in the container (an error line at every start) and shared between instances.
control_socket_disable = True
# Request-line and header limits are nginx's job (large_client_header_buffers): gunicorn's
# limit_request_* settings apply to its own HTTP parser, which the uvicorn worker does not use.


def on_starting(server: Any) -> None:
    """Before the workers fork: cheaper log records, and an empty metrics folder (files of a
    previous run's workers would count)."""
    # Every request writes an access line: skip what no line shows (the caller's file and
    # line, found by walking the stack; thread and process names), as the logging HOWTO's
    # "Optimization" section suggests. About a third of a line's cost.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    folder = _server.prometheus_multiproc_dir
    if folder is not None:
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        for stale in folder.glob("*.db"):  # only prometheus_client's own files
            stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges (the served version) leave /metrics; counters stay."""
    if _server.prometheus_multiproc_dir is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
