"""The one gunicorn configuration: the image's CMD and the local twin both run
`gunicorn -c gunicorn.conf.py`. Values come from the environment via ServerSettings
(API_BIND, WEB_CONCURRENCY, FORWARDED_ALLOW_IPS, LOG_LEVEL)."""

from app.config import ServerSettings

_server = ServerSettings()

wsgi_app = "app.main:create_app()"
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
accesslog = "-"
errorlog = "-"
# No control socket (gunicornc): nothing uses it, and its default place, $HOME/.gunicorn,
# is read-only in the container (an error line at every start) and shared between instances.
control_socket_disable = True
# Request-line and header limits are nginx's job (large_client_header_buffers): gunicorn's
# limit_request_* settings apply to its own HTTP parser, which the uvicorn worker does not use.
