"""The one gunicorn configuration: the image's CMD and the local twin both run
`gunicorn -c gunicorn.conf.py` (through start.sh). Values come from the environment via
ServerSettings (API_BIND, WEB_CONCURRENCY, FORWARDED_ALLOW_IPS, LOG_LEVEL)."""

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
keepalive = 15
loglevel = _server.log_level
accesslog = "-"
errorlog = "-"
# Bound what a client can make a worker hold in memory before the app sees the request.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
