"""What we can prove about the Docker deployment without a Docker engine."""

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.core.settings import ServerSettings, Settings
from app.web.middleware import MAX_BODY_BYTES
from local.twin import TEMPLATE, Nginx
from local.twin import compose as twin_compose
from tests.support.paths import ROOT

BIN = Path(sys.executable).parent
DOCKERFILES = {"api": ROOT / "api" / "Dockerfile", "nginx": ROOT / "nginx" / "Dockerfile"}


def test_compose_file_matches_the_compose_spec() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(ROOT / "docker-compose.yml")], capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "version" not in compose
    assert {name for name, s in services.items() if "profiles" not in s} == {
        "nginx", "api", "migrate", "db"}
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["prometheus"]["networks"] == ["front"]
    assert services["nginx"]["networks"] == ["front"]
    assert sorted(services["api"]["networks"]) == ["db", "front"]
    assert services["migrate"]["networks"] == ["db"]
    assert services["db"]["networks"] == ["db"]
    assert compose["networks"]["db"]["internal"] is True
    assert not compose["networks"]["front"] or not compose["networks"]["front"].get("internal")
    assert [name for name, s in services.items() if "ports" in s] == ["nginx", "prometheus"]
    assert services["nginx"]["ports"] == ["80:8080", "443:8443"]
    # The optional monitoring profile's Prometheus: the host's loopback only.
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["api"]["expose"] == ["8000"]
    # db healthy -> migrate exits 0 -> api healthy -> nginx.
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["api"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
    }
    assert services["nginx"]["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert "pgdata" in compose["volumes"] and "certs" in compose["volumes"]


def test_the_api_scales(compose: dict[str, Any]) -> None:
    """`--scale api=3` needs no fixed name or host port, and nginx following every replica."""
    api = compose["services"]["api"]
    assert "container_name" not in api and "ports" not in api
    assert compose["services"]["nginx"]["environment"]["API_UPSTREAM"] == "api:8000 resolve"
    template = TEMPLATE.read_text()
    assert re.search(r"^resolver \$\{NGINX_LOCAL_RESOLVERS\} valid=\d+s", template, re.M)
    upstream = template[template.index("upstream api {"):]
    upstream = upstream[:upstream.index("\n}")]
    assert "zone api " in upstream and re.search(r"keepalive \d+;", upstream)


def test_nginx_and_the_app_limit_a_batch_body_alike() -> None:
    """nginx refuses first; the app's own limit (defence in depth) is the same size, so a body
    nginx lets through is never refused by the app, and the app alone refuses no less."""
    batch = TEMPLATE.read_text().split("location = /predict/batch {", 1)[1].split("\n    }", 1)[0]
    limit = re.search(r"client_max_body_size (\d+)([km]?);", batch)
    assert limit is not None
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[limit[2]]
    assert int(limit[1]) * scale == MAX_BODY_BYTES


@pytest.mark.parametrize("name", ["nginx", "api", "migrate", "db", "prometheus"])
def test_every_service_is_hardened(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    if name == "migrate":  # one-shot: runs to completion, never restarted
        assert service["restart"] == "no" and service["healthcheck"] == {"disable": True}
    else:
        assert service["restart"] == "unless-stopped"
        assert service["healthcheck"]["test"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["cap_drop"] == ["ALL"]
    assert "cap_add" not in service
    assert service["read_only"] is True
    assert service["mem_limit"] and service["pids_limit"]
    image = service.get("image", "")
    assert image and not image.endswith(":latest") and ":" in image


def test_every_base_image_is_pinned_to_a_version() -> None:
    for name, dockerfile in DOCKERFILES.items():
        bases = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.M)
        assert bases, name
        # Three version parts: python:3.11-slim would move with every patch release.
        for base in bases:  # e.g. python:3.11.11-slim-bookworm, nginx:1.27.3-alpine
            assert re.fullmatch(r"[a-z0-9./-]+:\d+\.\d+\.\d+-[a-z0-9.-]+", base), (name, base)


def test_db_uses_a_pinned_official_image_and_pg_isready(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", db["image"])
    assert "pg_isready -h 127.0.0.1" in db["healthcheck"]["test"][1]
    assert "./db/init:/docker-entrypoint-initdb.d:ro" in db["volumes"]


def test_the_database_refuses_logins_from_the_db_networks_gateway(
        compose: dict[str, Any]) -> None:
    """The host's address on the db network is its pinned gateway; db/pg_hba.conf, which
    postgres reads, rejects it before it lets the subnet in (the engine tier logs in for real)."""
    [ipam] = compose["networks"]["db"]["ipam"]["config"]
    db = compose["services"]["db"]
    assert db["command"] == ["postgres", "-c", "hba_file=/etc/postgresql/pg_hba.conf"]
    assert "./db/pg_hba.conf:/etc/postgresql/pg_hba.conf:ro" in db["volumes"]
    rules = [line.split() for line in (ROOT / "db" / "pg_hba.conf").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    hosts = [(rule[3], rule[4]) for rule in rules if rule[0] == "host"]
    gateway = hosts.index((f"{ipam['gateway']}/32", "reject"))
    subnet = hosts.index((ipam["subnet"], "scram-sha-256"))
    assert gateway < subnet
    # Nothing else from the network: loopback (the container itself) and the subnet only.
    assert {address for address, _ in hosts} == {
        "127.0.0.1/32", "::1/128", f"{ipam['gateway']}/32", ipam["subnet"]}
    assert all(method in {"scram-sha-256", "reject"} for *_, method in rules)


def test_each_service_gets_only_the_credentials_its_job_needs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    # The superuser: the db container alone. The owner: db (to create it) and migrate.
    assert services["db"]["env_file"] == [".env_db", ".env_db_owner", ".env_db_app"]
    assert services["migrate"]["env_file"] == [".env", ".env_db_owner", ".env_db_app"]
    assert services["api"]["env_file"] == [".env", ".env_api", ".env_db_app"]
    assert "environment" not in services["api"] and "environment" not in services["migrate"]
    assert example_names(".env_db.example") == {"POSTGRES_USER", "POSTGRES_PASSWORD"}
    assert example_names(".env_db_owner.example") == {"DB_OWNER_USER", "DB_OWNER_PASSWORD"}
    api_names = example_names(".env.example") | example_names(".env_db_app.example")
    assert not {n for n in api_names if "OWNER" in n or n.startswith("POSTGRES_PASS")}
    # The API token: the api alone; migrate (and the operator commands run with its
    # environment) never uses it, so never holds it.
    given = {name: set().union(*(example_names(f"{f}.example") for f in s.get("env_file", [])
                                 if f.startswith(".env")))
             for name, s in services.items()}
    assert [name for name, names in given.items() if "API_TOKEN" in names] == ["api"]
    secrets = {n for names in given.values() for n in names if re.search(r"PASSWORD|TOKEN", n)}
    assert {n for n in given["migrate"] if n in secrets} == {"DB_OWNER_PASSWORD",
                                                             "APP_DB_PASSWORD"}


def test_make_env_moves_an_older_env_files_token_to_env_api(tmp_path: Path) -> None:
    """Before .env_api, API_TOKEN was in .env (which migrate reads): `make env` moves it,
    keeping its value (its clients keep working) and every other line of .env."""
    twin_compose.ensure_env_files(tmp_path)
    (tmp_path / ".env_api").unlink()
    env = (tmp_path / ".env").read_text()
    (tmp_path / ".env").write_text(env + "API_TOKEN=an-0lder-Token_value\n")
    (tmp_path / ".env").chmod(0o600)
    twin_compose.ensure_env_files(tmp_path)
    assert (tmp_path / ".env").read_text() == env
    assert twin_compose.read_env_file(tmp_path / ".env_api") == {
        "API_TOKEN": "an-0lder-Token_value"}
    assert oct((tmp_path / ".env_api").stat().st_mode & 0o777) == oct(0o600)


def test_the_twin_gives_migrate_no_api_token(tmp_path: Path) -> None:
    """The twin's migrate (and `python -m local.twin run -- python -m app ...`) gets what
    compose gives it: the owner's credentials and the app role's, not the API's token."""
    migrate = twin_compose.service_env("migrate", tmp_path, {})
    api = twin_compose.service_env("api", tmp_path, {})
    assert "API_TOKEN" not in migrate and api["API_TOKEN"]
    assert migrate["DB_OWNER_PASSWORD"] and "DB_OWNER_PASSWORD" not in api


def test_secrets_reach_containers_only_through_env_files(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "PASSWORD:" not in text and "PASSWORD=" not in text
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    env_files = {f for s in compose["services"].values() for f in s.get("env_file", [])}
    # nginx's limits are no secret: tracked, and holding no password or token.
    limits = "nginx/limits.env"
    assert limits in tracked and not re.search(r"PASSWORD|TOKEN|SECRET",
                                                (ROOT / limits).read_text())
    env_files -= {limits}
    assert env_files == {".env", ".env_api", ".env_db", ".env_db_owner", ".env_db_app"}
    assert not env_files & set(tracked)
    ignored = subprocess.run(["git", "check-ignore", *sorted(env_files)], cwd=ROOT,
                             capture_output=True, text=True, check=False).stdout.split()
    assert set(ignored) == env_files, "an env file git would add: fix .gitignore"
    assert {f"{name}.example" for name in env_files} <= set(tracked)
    for ignore_file in (ROOT / ".gitignore", ROOT / "api/.dockerignore",
                        ROOT / "nginx/.dockerignore"):
        assert ".env" in ignore_file.read_text()


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_is_clean(name: str) -> None:
    result = subprocess.run([str(BIN / "hadolint"), str(DOCKERFILES[name])],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def final_stage(dockerfile: Path) -> list[str]:
    lines = [line.strip() for line in dockerfile.read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    start = max(i for i, line in enumerate(instructions) if line.upper().startswith("FROM "))
    return instructions[start:]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_final_stage_runs_as_a_non_root_user(name: str) -> None:
    users = [line.split()[1] for line in final_stage(DOCKERFILES[name]) if line.startswith("USER ")]
    assert users, "the final stage sets no USER"
    assert users[-1] not in {"root", "0", "0:0"}


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_every_copy_source_exists_in_the_build_context(name: str) -> None:
    context = DOCKERFILES[name].parent
    for line in DOCKERFILES[name].read_text().splitlines():
        if line.startswith(("COPY ", "ADD ")) and "--from=" not in line:
            sources = line.split()[1:-1]
            for source in sources:
                assert (context / source).exists(), f"{name}: {source} is not in {context}"


def test_the_twin_runs_the_commands_the_images_run() -> None:
    """The twin takes both commands from docker-compose.yml and the Dockerfile themselves."""
    assert twin_compose.command("api") == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert twin_compose.command("migrate") == ["python", "-m", "app", "prestart"]
    assert "COPY gunicorn.conf.py alembic.ini ./" in DOCKERFILES["api"].read_text()


def test_nginx_image_and_twin_render_the_same_template(compose: dict[str, Any]) -> None:
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", TEMPLATE.read_text()))
    # The image's entrypoint (15-local-resolvers.envsh) sets this one when the Dockerfile
    # asks it to.
    from_entrypoint = {"NGINX_LOCAL_RESOLVERS"}
    assert "ENV NGINX_ENTRYPOINT_LOCAL_RESOLVERS=1" in DOCKERFILES["nginx"].read_text()
    nginx = compose["services"]["nginx"]
    assert nginx["env_file"] == ["nginx/limits.env"]  # the edge's limits, the twin's too
    given_by_compose = (set(nginx["environment"]) | from_entrypoint
                        | set(twin_compose.read_env_file(ROOT / "nginx" / "limits.env")))
    given_by_twin = set(Nginx(ROOT, 1, 2, 3).template_vars())
    assert used == given_by_compose == given_by_twin
    assert "COPY templates/ /etc/nginx/templates/" in DOCKERFILES["nginx"].read_text()


def example_names(name: str) -> set[str]:
    lines = (ROOT / name).read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def test_env_names_agree_with_the_settings_classes() -> None:
    known = {f.upper() for f in Settings.model_fields} | {
        f.upper() for f in ServerSettings.model_fields
    }
    ours = (example_names(".env.example") | example_names(".env_api.example")
            | example_names(".env_db_owner.example") | example_names(".env_db_app.example"))
    assert ours <= known, f"documented but never read: {ours - known}"
    required = {n.upper() for n, f in Settings.model_fields.items() if f.is_required()}
    # In the files both services that read Settings get (migrate and api).
    assert required <= example_names(".env.example") | example_names(".env_db_app.example")
    # The postgres image reads these from its env files; db/init reads the role names.
    image_names = example_names(".env_db.example") | example_names(".env_db_app.example")
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= image_names
    init_script = (ROOT / "db" / "init" / "10-roles.sh").read_text()
    for name in ("DB_OWNER_USER", "DB_OWNER_PASSWORD", "APP_DB_USER", "APP_DB_PASSWORD"):
        assert name in init_script


def test_examples_hold_only_placeholders() -> None:
    for name in twin_compose.all_env_files():
        for line in (ROOT / f"{name}.example").read_text().splitlines():
            if "PASSWORD=" in line or "TOKEN=" in line:
                assert line.endswith("=changeme"), line


MONITORING = ROOT / "monitoring"


def promtool(*args: str) -> None:
    if shutil.which("promtool") is None:
        pytest.fail("promtool not found: apt-get install prometheus (Debian's package has it)")
    result = subprocess.run(["promtool", *args], cwd=MONITORING, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_and_rules_are_valid() -> None:
    promtool("check", "config", "prometheus.yml")
    promtool("check", "rules", "rules.yml")


def test_each_alert_fires_on_its_series() -> None:
    promtool("test", "rules", "rules.test.yml")


def test_prometheus_gets_the_files_promtool_checked(compose: dict[str, Any]) -> None:
    service = compose["services"]["prometheus"]
    assert "./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in service["volumes"]
    assert "./monitoring/rules.yml:/etc/prometheus/rules.yml:ro" in service["volumes"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", service["image"])
    assert service["ports"] == ["127.0.0.1:9090:9090"]  # the host's loopback only


def test_the_api_image_keeps_metrics_on_its_tmpfs(compose: dict[str, Any]) -> None:
    assert "ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in DOCKERFILES["api"].read_text()
    assert any(t.startswith("/tmp") for t in compose["services"]["api"]["tmpfs"])


# --- one version number ---------------------------------------------------------------------

IMAGE_TAG = re.compile(r"social-ads-(?:api|nginx):([0-9][0-9A-Za-z.+-]*[0-9A-Za-z])")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    return [ROOT / n for n in names if Path(n).suffix in {".yml", ".yaml", ".md", ".toml", ""}
            and (ROOT / n).is_file()]


def test_one_version_number_read_everywhere_from_the_package(compose: dict[str, Any]) -> None:
    """app.__version__ is the release: the package's metadata, the API's document, the CLI
    and every image tag (compose, Swarm, Kubernetes, the docs) say the same; compose cannot
    read Python, so this test holds its tags equal."""
    from app import __version__
    from app.web.main import create_app

    services = compose["services"]
    assert services["api"]["image"] == services["migrate"]["image"] == \
        f"social-ads-api:{__version__}"
    assert services["nginx"]["image"] == f"social-ads-nginx:{__version__}"
    tags = {(path.relative_to(ROOT).as_posix(), tag) for path in tracked_text_files()
            for tag in IMAGE_TAG.findall(path.read_text(errors="replace"))}
    assert tags and {t for t in tags if t[1] != __version__} == set()
    kustomize = ROOT / "deploy/kubernetes/overlays/production/kustomization.yaml"
    assert set(re.findall(r"newTag: (\S+)", kustomize.read_text())) == {__version__}
    project = tomllib.loads((ROOT / "api" / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "app.__version__"}
    assert importlib.metadata.version("social-ads-api") == __version__
    app = create_app(Settings.model_validate({"app_db_password": "s3cret-Password-value"}))
    assert app.version == app.openapi()["info"]["version"] == __version__
    printed = subprocess.run([sys.executable, "-m", "app", "--version"], cwd=ROOT / "api",
                             capture_output=True, text=True, check=True).stdout
    assert printed == f"python -m app {__version__}\n"
