"""The negative controls: for each claim, a deliberate breakage of the real files and the test
that proves the claim. `python -m tests.controls` applies each breakage to a throwaway copy of
the checkout, runs that test there and passes only if it FAILS, with output naming the claim.

An edit is (file, regular expression, replacement); the expression must match (else the
control is stale, which fails it too: tests/unit/test_claims.py checks that every edit still
applies, cheaply, in the unit tier)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edit:
    path: str
    pattern: str  # re.MULTILINE; every match is replaced
    replacement: str


@dataclass(frozen=True)
class Control:
    name: str
    claim: str
    tests: tuple[str, ...]  # pytest node ids (file::name), run together
    edits: tuple[Edit, ...]
    expect: str  # a regular expression the failing run's output must contain
    keyword: str | None = None  # pytest -k, to narrow a parametrized test
    note: str = field(default="")


TEMPLATE = "nginx/templates/default.conf.template"
LIMITS = "nginx/limits.env"
COMPOSE = "docker-compose.yml"
ABUSE = "tests/faults/test_abuse.py"
SLOW = f"{ABUSE}::test_slow_header_clients_are_cut_off_and_do_not_block_others"
ACCESS_LOG = f"{ABUSE}::test_the_access_log_is_json_after_hostile_traffic"
LIMITS_TEST = "tests/e2e/test_documented_limits.py"
RATE_TEST = f"{LIMITS_TEST}::test_each_rate_limit_is_the_documented_one"
THROUGH = "tests/e2e/test_through_nginx.py"
EDGE = "tests/e2e/test_edge.py"
OPERATIONS = "tests/e2e/test_operations.py"
LOG_WRITER = "api/app/store/prediction_log.py"

# A build that answers before it commits: the rows go in an open transaction, every request is
# answered with its ids, and the COMMIT comes 0.2 s later. A worker killed meanwhile takes
# acknowledged rows with it.
ANSWER_BEFORE_COMMIT = '''\
                await self._connection.execute("BEGIN")
                ids = await self._insert(version, group)
                answered = 0
                for pending in group:  # CONTROL: answered before the COMMIT
                    if not pending.future.done():
                        pending.future.set_result(ids[answered : answered + len(pending.rows)])
                    answered += len(pending.rows)
                await asyncio.sleep(0.2)
                await self._connection.execute("COMMIT")'''

CONTROLS: tuple[Control, ...] = (
    Control(
        "header-timeout", "nginx cuts off a client whose request line or headers never end "
        "after 10 s (client_header_timeout)", (SLOW,),
        (Edit(TEMPLATE, r"client_header_timeout 10s;", "client_header_timeout 60s;"),),
        r"held open past .*(header|line)"),
    Control(
        "body-timeout", "nginx cuts off a client whose body stalls after 10 s "
        "(client_body_timeout)", (SLOW,),
        (Edit(TEMPLATE, r"client_body_timeout 10s;", "client_body_timeout 60s;"),),
        r"held open past .*body"),
    Control(
        "predict-rate", "/predict: 20 r/s per client address (nginx/limits.env)", (RATE_TEST,),
        (Edit(LIMITS, r"^NGINX_PREDICT_RATE=20r/s$", "NGINX_PREDICT_RATE=400r/s"),),
        r"zone predict admitted", keyword="predict"),
    Control(
        "predict-burst", "/predict: burst 40 (nginx/limits.env)", (RATE_TEST,),
        (Edit(LIMITS, r"^NGINX_PREDICT_BURST=40$", "NGINX_PREDICT_BURST=400"),),
        r"zone predict admitted", keyword="predict"),
    Control(
        "predict-rate-lower", "/predict: 20 r/s per client address (here 15 r/s)", (RATE_TEST,),
        (Edit(LIMITS, r"^NGINX_PREDICT_RATE=20r/s$", "NGINX_PREDICT_RATE=15r/s"),),
        r"zone predict admitted", keyword="predict"),
    Control(
        "batch-limit", "/predict/batch: 12 a minute, burst 3 (nginx/limits.env)", (RATE_TEST,),
        (Edit(LIMITS, r"^NGINX_BATCH_BURST=3$", "NGINX_BATCH_BURST=30"),),
        r"zone batch admitted", keyword="batch"),
    Control(
        "batch-rate", "/predict/batch: 12 a minute (here 24)", (RATE_TEST,),
        (Edit(LIMITS, r"^NGINX_BATCH_RATE=12r/m$", "NGINX_BATCH_RATE=24r/m"),),
        r"zone batch admitted", keyword="batch"),
    Control(
        "batch-rate-lower", "/predict/batch: 12 a minute (here 6)", (RATE_TEST,),
        (Edit(LIMITS, r"^NGINX_BATCH_RATE=12r/m$", "NGINX_BATCH_RATE=6r/m"),),
        r"zone batch admitted", keyword="batch"),
    Control(
        "reads-rate", "the GET routes that query the database: 10 r/s per client "
        "(nginx/limits.env)", (RATE_TEST,),
        (Edit(LIMITS, r"^NGINX_READ_RATE=10r/s$", "NGINX_READ_RATE=1000r/s"),),
        r"zone reads admitted", keyword="reads"),
    Control(
        "reads-rate-lower", "the GET routes that query the database: 10 r/s per client (here "
        "7 r/s)", (RATE_TEST,),
        (Edit(LIMITS, r"^NGINX_READ_RATE=10r/s$", "NGINX_READ_RATE=7r/s"),),
        r"zone reads admitted", keyword="reads"),
    Control(
        "connection-limit", "at most 32 requests in progress per client (limit_conn)",
        (f"{LIMITS_TEST}::test_the_connection_limit_is_the_documented_one",),
        (Edit(LIMITS, r"^NGINX_CONN_PER_CLIENT=32$", "NGINX_CONN_PER_CLIENT=64"),),
        r"33 requests in progress admitted"),
    Control(
        "rate-limit-applied", "/predict's zone is applied at the edge (a burst gets 429)",
        (f"{OPERATIONS}::test_each_zone_answers_a_burst_with_429_and_no_5xx",),
        (Edit(TEMPLATE, r"^\s*limit_req zone=predict burst=\$\{NGINX_PREDICT_BURST\} nodelay;\n",
              ""),),
        r"assert \{200\} == \{200, 429\}|429", keyword="predict"),
    Control(
        "security-headers", "every answer through nginx carries the security headers (here: "
        "X-Frame-Options removed from the template)",
        (f"{THROUGH}::test_bad_input_is_4xx_with_headers",),
        (Edit(TEMPLATE, r'^\s*add_header X-Frame-Options "DENY" always;\n', ""),),
        r"(?i)x-frame-options missing"),
    Control(
        "server-version-hidden", "nginx's Server header names no version (server_tokens off)",
        (f"{THROUGH}::test_bad_input_is_4xx_with_headers",),
        (Edit("nginx/nginx.conf", r"server_tokens off;", "server_tokens on;"),),
        r"nginx/1\.\d+"),
    Control(
        "body-size", "/predict bodies over 16 KiB get 413 from nginx",
        (f"{THROUGH}::test_oversized_body_is_413",),
        (Edit(TEMPLATE, r"client_max_body_size 16k;", "client_max_body_size 1m;"),),
        r"assert 422 == 413"),
    Control(
        "alert-error-ratio", "the 5xx alert fires above 1 % of answers (here 1.5 %)",
        ("tests/unit/test_deployment_files.py::test_each_alert_fires_on_its_series",),
        (Edit("monitoring/rules.yml", r" > 0\.01$", " > 0.015"),),
        r"alertname: ApiErrorRatioHigh"),
    Control(
        "alert-replica-down", "an api replica that stops answering /metrics raises an alert "
        "(here the rule can never be true)",
        ("tests/unit/test_deployment_files.py::test_each_alert_fires_on_its_series",),
        (Edit("monitoring/rules.yml", r'expr: up\{job="api"\} == 0', 'expr: up{job="api"} < 0'),),
        r"alertname: ApiReplicaDown"),
    Control(
        "request-id-bounds-nginx", "nginx keeps an X-Request-ID of 8 to 64 characters, as the app "
        "does (here up to 128)",
        (f"{OPERATIONS}::test_one_answer_followed_from_nginx_to_the_app_to_its_row",),
        (Edit("nginx/nginx.conf", r"\{8,64\}", "{8,128}"),),
        r"\[65-chars\]"),
    Control(
        "header-line-limit", "a header line over 8 KiB gets nginx's 400, one of 8,000 bytes is "
        "read (here the limit is 4 KiB)",
        (f"{EDGE}::test_a_header_line_just_under_8_kib_is_read",),
        (Edit(TEMPLATE, r"(large_client_header_buffers 4) 8k;", r"\1 4k;"),),
        r"assert 400 == 200"),
    Control(
        "header-line-limit-higher", "a header line over 8 KiB gets nginx's 400 (here the limit "
        "is 16 KiB)",
        (f"{EDGE}::test_nginx_own_errors_are_json_with_the_security_headers",),
        (Edit(TEMPLATE, r"(large_client_header_buffers 4) 8k;", r"\1 16k;"),),
        r"400 header too large"),
    Control(
        "docs-offline", "/docs and /redoc render without any CDN (here FastAPI's own pages, "
        "which load their scripts from a CDN)",
        ("tests/browser/test_page.py::test_docs_render_offline",),
        (Edit("api/app/web/main.py", r"^    app = FastAPIOffline\(",
              '    app = __import__("fastapi").FastAPI('),),
        r"cdn\.jsdelivr\.net"),
    Control(
        "batch-body-size", "/predict/batch bodies up to 1 MiB reach the app, one byte more gets "
        "413 from nginx (here nginx's limit is 512 KiB)",
        (f"{THROUGH}::test_batch_body_over_1_mib_is_413_from_nginx",),
        (Edit(TEMPLATE, r"^(\s+)client_max_body_size 1m;", r"\1client_max_body_size 512k;"),),
        r"assert 413 == 422"),
    Control(
        "body-size-lower", "/predict bodies up to 16 KiB reach the app (here nginx's limit is "
        "8 KiB)", (f"{THROUGH}::test_oversized_body_is_413",),
        (Edit(TEMPLATE, r"client_max_body_size 16k;", "client_max_body_size 8k;"),),
        r"assert 413 == 422"),
    Control(
        "app-body-limit-json", "the app's own 1 MiB limit answers a JSON 413 with the request "
        "id, whether the body declares its length or comes in chunks",
        ("tests/integration/test_api.py::"
         "test_a_body_over_the_apps_own_limit_is_a_json_413_and_logs_nothing",),
        (Edit("api/app/web/main.py",
              r"^    app\.add_middleware\(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES\)$",
              "    app.max_body_size = MAX_BODY_BYTES  # CONTROL: Starlette's limit instead"),),
        r"text/plain"),
    Control(
        "redirect-308", "HTTP redirects to HTTPS with 308 (a POST stays a POST)",
        (f"{THROUGH}::test_http_redirects_with_308_and_a_post_stays_a_post",),
        (Edit(TEMPLATE, r"return 308 https://", "return 301 https://"),),
        r"\[301\] == \[308\]"),
    Control(
        "metrics-hidden", "/metrics is not reachable through nginx (404)",
        (f"{OPERATIONS}::test_metrics_are_not_served_through_nginx",),
        (Edit(TEMPLATE, r"(location = /metrics \{\s*)return 404;", r"\1proxy_pass http://api;"),),
        r"assert 200 == 404"),
    Control(
        "segmentation-nginx-db", "nginx cannot reach the database (the db network is not "
        "nginx's; here docker-compose.yml puts nginx on it)",
        ("tests/faults/test_network.py::test_segmentation",),
        (Edit(COMPOSE, r"(    networks:\n      - front\n)(    depends_on:\n      api:)",
              r"\1      - db\n\2"),),
        r"'nginx -> db:5432': 'connected'"),
    Control(
        "api-no-owner-secret", "the api processes hold no owner or superuser secret (here "
        "docker-compose.yml gives the api the owner's env file)",
        ("tests/e2e/test_edge.py::test_the_api_processes_hold_no_owner_or_superuser_secret",),
        (Edit(COMPOSE, r"(      - \.env_db_app\n)(    expose:)",
              r"\1      - .env_db_owner\n\2"),),
        r"DB_OWNER"),
    Control(
        "placeholder-secrets", "production refuses placeholder secrets",
        ("tests/unit/test_config.py::test_placeholder_secret_refused_in_production",),
        (Edit("api/app/core/settings.py", r'if self\.app_env == "development":',
              "if True:  # CONTROL"),),
        r"DID NOT RAISE"),
    Control(
        "answer-after-commit", "no prediction is acknowledged before its row is committed "
        "(the durability oracle, a worker SIGKILLed under load)",
        ("tests/faults/test_acknowledged_oracle.py::test_gunicorn_worker_killed_three_times",),
        (Edit(LOG_WRITER, r"^ {16}ids = await self\._insert\(version, group\)(  #.*)?$",
              ANSWER_BEFORE_COMMIT),),
        r"acknowledged but not stored"),
    Control(
        "duplicate-keys", "a body with a repeated key is refused (strict JSON)",
        ("tests/unit/test_strict_json.py::test_refused_as_a_decode_error",),
        (Edit("api/app/web/strict_json.py", r"if key in result:", "if False:  # CONTROL"),),
        r"DID NOT RAISE", keyword="duplicate"),
    Control(
        "duplicate-keys-one-pass", "a body with a repeated key is refused on the hot routes' "
        "one-pass validation too (here the count of ':' against the pairs skipped)",
        ("tests/unit/test_counted_body.py::test_a_repeated_key_is_never_taken",),
        (Edit("api/app/web/strict_json.py",
              r'return body if raw\.count\(b":"\) == body\.json_members\(\) else None',
              "return body  # CONTROL"),),
        r"a repeated key taken in one pass"),
    Control(
        "direct-route-parity", "the hot routes' own handler answers every body as FastAPI's "
        "would (here a missing body worded differently)",
        ("tests/unit/test_direct_route.py::test_one_row_answers_as_fastapi_would",),
        (Edit("api/app/web/strict_json.py", r'"msg": "Field required", "input": None',
              '"msg": "body missing", "input": None'),),
        r"body missing", keyword="empty"),
    Control(
        "bad-input-logs-nothing", "out-of-range input gets a 422 naming the field and stores "
        "nothing (here age's upper bound raised)",
        ("tests/integration/test_api.py::test_bad_input_is_a_4xx_naming_the_field_and_logs_"
         "nothing",),
        (Edit("api/app/domain/features.py", r"low=0, high=120,", "low=0, high=1000,"),),
        r"assert 200 == 422", keyword="absurd and age"),
    Control(
        "token-required", "reading the log needs the bearer token (401 otherwise)",
        (f"{OPERATIONS}::test_reading_the_log_needs_the_token",),
        (Edit("api/app/web/deps.py", r"if expected is None or not hmac\.compare_digest\(",
              "if expected is None or False and not hmac.compare_digest("),),
        r"assert 200 == 401"),
    Control(
        "request-id-stored", "the request id is stored with the prediction's row",
        ("tests/integration/test_observability.py::test_a_valid_request_id_is_kept_and_stored_"
         "with_the_rows",),
        (Edit(LOG_WRITER, r"_Pending\(rows, current_request_id\.get\(\), ",
              "_Pending(rows, None, "),),
        r"request_id|None"),
    Control(
        "request-id-end-to-end", "one request id from nginx's log to the app's to the row "
        "(here nginx no longer passes it on)",
        (f"{OPERATIONS}::test_one_answer_followed_from_nginx_to_the_app_to_its_row",),
        (Edit(TEMPLATE, r"^\s*proxy_set_header X-Request-ID \$request_id_out;\n", ""),),
        r"assert \[\] == \[\('app\.access"),
    Control(
        "hot-reload-bound", "a promote reaches every worker within 2 s, without a restart "
        "(here the listener LISTENs on the wrong channel, leaving the 10 s re-check)",
        ("tests/integration/test_lifecycle.py",),
        (Edit("api/app/store/served_version_listener.py", r'f"LISTEN \{CHANNEL\}"',
              'f"LISTEN {CHANNEL}_control"'),),
        # Either switch may miss the bound: the promote (to 2) can land on the 10 s re-check
        # by chance, and then the rollback (to 1) does not (seen in CI on December 3).
        r"still not serving version [12] after 2\.0 s",
        keyword="train_stores_a_candidate or promote_serves_it"),
    Control(
        "access-log-json-status", "every nginx access-log line is JSON (here status 000 of an "
        "aborted HTTP/2 stream written bare again)", (ACCESS_LOG,),
        (Edit("nginx/nginx.conf", r'"status":\$log_status', '"status":$status'),),
        r"line \d+: Expecting"),
    Control(
        "access-log-json-escape", "every nginx access-log line is JSON (here escape=json "
        "removed: a quote in a header breaks the line)", (ACCESS_LOG,),
        (Edit("nginx/nginx.conf", r"log_format json escape=json ", "log_format json "),),
        r"line \d+: (Invalid|Expecting)"),
    Control(
        "nginx-errors-json", "nginx's own errors are JSON with every security header (here its "
        "error_page line removed: its HTML pages come back)",
        ("tests/e2e/test_edge.py::test_nginx_own_errors_are_json_with_the_security_headers",),
        (Edit(TEMPLATE, r"^\s*error_page 400 403 404 .*/\.error;\n", ""),),
        r"text/html"),
    Control(
        "hidden-files", "no hidden file (.env, .git/) is ever served, even from the page's folder",
        (f"{THROUGH}::test_no_secrets_served",),
        (Edit(TEMPLATE, r"^\s*location ~ /\\\. \{\n\s*return 404;\n\s*\}\n", ""),),
        r"assert 200 == 404"),
    Control(
        "query-token-not-logged", "a token in a query string reaches no access-log line (here "
        "nginx logs the whole request URI again)",
        ("tests/e2e/test_edge.py::test_a_token_in_the_query_string_reaches_no_access_log_line",),
        (Edit("nginx/nginx.conf", r'"uri":"\$log_path"', '"uri":"$request_uri"'),),
        r"\['nginx'\]"),
    Control(
        "loopback-names", "nginx serves the loopback names whatever the public name (here they "
        "get 421 again)",
        ("tests/e2e/test_edge.py::test_the_loopback_names_are_served_whatever_the_public_name",),
        (Edit(TEMPLATE, r'^\s*"~\^\(localhost\|127.*\n', ""),),
        r"421"),
    Control(
        "workshop-result", "the workshop's result: accuracy 0.89, confusion matrix "
        "[[65, 3], [8, 24]]", ("tests/unit/test_training.py::test_the_workshop_result",),
        (Edit("api/app/domain/dataset.py", r"^RANDOM_STATE = 0$", "RANDOM_STATE = 1"),),
        r"0\.89|65, 3"),
    Control(
        "nginx-two-workers", "nginx runs a fixed 2 workers (here 4: pids_limit's headroom "
        "would still pass)", ("tests/unit/test_container_runtime.py::"
                              "test_nginx_process_count_is_fixed",),
        (Edit("nginx/nginx.conf", r"^worker_processes 2;$", "worker_processes 4;"),),
        r"say 2 workers"),
    Control(
        "base-images-pinned", "every Dockerfile's base image is pinned to a version (here the "
        "api's build stage takes python:latest)",
        ("tests/unit/test_deployment_files.py::test_every_base_image_is_pinned_to_a_version",),
        (Edit("api/Dockerfile", r"^FROM python:[0-9.]+-slim-bookworm AS build$",
              "FROM python:latest AS build"),),
        r"python:latest"),
    Control(
        "ci-fails-not-skips", "without root, CI fails the network tests instead of skipping "
        "them (here CI skips them like a laptop)",
        ("tests/unit/test_nothing_skips.py::test_without_root_ci_fails_where_a_laptop_skips",),
        (Edit("tests/support/privileges.py", r'^    if environ\.get\("CI"\) == "true":$',
              '    if environ.get("CI") == "never":'),),
        r"in CI the test was not failed"),
    Control(
        "ci-skips-fail", "under CI=true a skip of any kind is reported failed (here the plugin "
        "lets skips through)",
        ("tests/unit/test_nothing_skips.py::test_a_skip_of_any_kind_fails_in_ci",),
        (Edit("tests/support/no_skips.py",
              r'^    if report\.skipped and os\.environ\.get\("CI"\) == "true":$',
              '    if report.skipped and os.environ.get("CI") == "never":'),),
        r"a skip was not failed in CI"),
    Control(
        "group-joins-received", "requests a worker has already received when the log's writer "
        "wakes join its group (here the writer sends at once, as before)",
        ("tests/integration/test_log_writer.py::"
         "test_requests_received_while_the_writer_wakes_join_its_group",),
        (Edit(LOG_WRITER, r"^                await self\._let_received_requests_join\(\)\n", ""),),
        r"did not join"),
    Control(
        "bench-others-ended-chain", "make bench counts a process that ended during a round only "
        "for the CPU it used in the round, even when its parent ended too (here only an ended "
        "process whose parent still runs has its earlier CPU taken off)",
        ("tests/unit/test_bench_accounting.py::"
         "test_a_chain_that_ends_during_the_run_counts_only_its_time_in_the_run",),
        (Edit("bench/run.py", r"surviving_ancestor\(pid, before, after\) not in ours",
              "before.parent[pid] in after.ticks and before.parent[pid] not in ours"),),
        r"the chain's life before the run was counted"),
    Control(
        "gone-root-counts-nothing", "a process tree whose root does not run counts nothing (here "
        "its former children are walked: pid 0's are the whole machine)",
        ("tests/unit/test_twin_processes.py::"
         "test_a_process_tree_holds_grandchildren_and_counts_their_cpu_after_they_end",),
        (Edit("local/twin/processes.py",
              r"for root in roots if root in self\.ticks for pid in self\.tree\(root\)",
              "for root in roots for pid in self.tree(root)"),),
        r"a root that does not run counted itself or its former children"),
    Control(
        "copy-binary-used", "a big batch whose inputs are all numbers goes to COPY in its binary "
        "format (here every batch goes as text)",
        ("tests/integration/test_log_writer.py::"
         "test_a_big_batch_by_copy_is_stored_as_the_group_writer_stores_it",),
        (Edit("api/app/store/bulk_log.py",
              r"binary = binary_copy_data\(ids, rows, request_id, features\)", "binary = None"),),
        r"COPY took the \['text'\] form, not the binary one", keyword="binary"),
    Control(
        "compare-against-own-floor", "make bench-compare reads each variant's /predict ÷ floor "
        "against the first variant's, round by round (here /predict's rate alone, so a stack "
        "faster at both loads looks like faster code)",
        ("tests/unit/test_bench_compare.py::"
         "test_a_stack_faster_at_both_loads_is_even_against_the_floor",),
        (Edit("bench/compare.py",
              r"against_floor = \[divide\(r, b\)\n\s+for r, b in zip\(ratios, "
              r"round_ratios\(base\.runs\), strict=True\)\]",
              "against_floor = against"),),
        r"a stack faster at both loads looked like faster code"),
)
