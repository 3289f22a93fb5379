"""The deployment files cannot be run here (no Docker), so these tests keep them honest:
.env.example and the settings in step, compose's commands equal to the Procfile's, the
example production environment clean under `check --deploy`."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.production.support import ENV_EXAMPLE, ROOT, example_production_env, manage

PROCESS_SERVICES = ("release", "web", "bot", "worker", "beat")
# Read by the process manager or by compose.yaml, not by the settings.
NOT_SETTINGS = {"PORT", "POSTGRES_PASSWORD"}
VARIABLE_LINE = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]+)=(.*)$")


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def words(command: str | list[str]) -> str:
    return " ".join(command if isinstance(command, list) else command.split())


def variables_read_by_settings() -> set[str]:
    settings_source = (ROOT / "config" / "settings.py").read_text()
    names = set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))
    gunicorn_source = (ROOT / "config" / "gunicorn.py").read_text()
    names |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]+)"', gunicorn_source))
    return names


def variables_in_env_example() -> list[tuple[str, int]]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return [(match.group(1), number) for number, line in enumerate(lines) if (match := VARIABLE_LINE.match(line))]


# --- .env.example -----------------------------------------------------------------------------


def test_env_example_lists_every_variable_the_settings_read():
    listed = {name for name, _ in variables_in_env_example()}

    assert variables_read_by_settings() - listed == set(), "read by the settings, missing from .env.example"


def test_env_example_lists_nothing_the_settings_do_not_read():
    listed = {name for name, _ in variables_in_env_example()}

    assert listed - variables_read_by_settings() - NOT_SETTINGS == set(), "in .env.example, read by nothing"


def test_env_example_lists_each_variable_once_with_a_comment_above_it():
    lines = ENV_EXAMPLE.read_text().splitlines()
    listed = variables_in_env_example()

    assert len({name for name, _ in listed}) == len(listed), "a variable is listed twice"
    for name, number in listed:
        above = lines[number - 1]
        assert above.startswith("# ") and not VARIABLE_LINE.match(above), f"{name} has no comment line above it"


def test_the_example_production_environment_passes_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=example_production_env())

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_leaves_the_secrets_empty_so_a_copy_refuses_to_start():
    result = manage("check", env={k: v for k, v in example_production_env().items() if k != "DJANGO_SECRET_KEY"})

    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr
    assert "DJANGO_SECRET_KEY=\n" in ENV_EXAMPLE.read_text()


def test_the_readme_configuration_table_names_every_variable():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]

    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))

    assert variables_read_by_settings() | NOT_SETTINGS <= named


# --- The owner's guide (docs/ru/owner-guide.md) ---------------------------------------------------------

OWNER_GUIDE = ROOT / "docs" / "ru" / "owner-guide.md"
# Named by the guide for the panel's own .env (the panel reads them, not the shop).
PANEL_VARIABLES = {"WEBHOOK_ENABLED", "WEBHOOK_URL", "WEBHOOK_SECRET_HEADER"}
SETTING_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


def test_the_owners_guide_is_in_russian_and_linked_from_the_readme():
    guide = OWNER_GUIDE.read_text()

    assert guide.startswith("# Руководство владельца магазина")
    assert "docs/ru/owner-guide.md" in (ROOT / "README.md").read_text()


def test_the_owners_guide_names_only_real_settings():
    named = set(SETTING_NAME.findall(OWNER_GUIDE.read_text())) - PANEL_VARIABLES

    assert named, "the guide names no setting"
    assert named - variables_read_by_settings() - NOT_SETTINGS == set(), "named by the guide, read by nothing"


def test_the_owners_guide_shows_the_owners_checks_and_only_real_commands():
    guide = OWNER_GUIDE.read_text()
    named = set(re.findall(r"manage\.py (\w+)", guide))
    result = manage("help", "--commands", env={"DJANGO_DEBUG": "true"})
    existing = set(result.stdout.split())

    for command in ("panel_check", "bot_check", "healthcheck", "seed_demo"):
        assert command in guide, f"the guide does not mention {command}"
    assert result.returncode == 0, result.stderr
    assert named - existing == set(), "the guide names a command that does not exist"


# --- Procfile and compose.yaml ------------------------------------------------------------------


def test_the_procfile_runs_celery_worker_and_beat_as_separate_processes():
    entries = procfile()

    assert set(entries) == set(PROCESS_SERVICES)
    assert re.match(r"^celery .* worker( |$)", entries["worker"]) and " beat" not in entries["worker"]
    assert re.match(r"^celery .* beat( |$)", entries["beat"])


def test_the_web_process_listens_on_port_from_the_environment():
    assert "0.0.0.0:$PORT" in procfile()["web"]
    assert "--config config/gunicorn.py" in procfile()["web"]


@pytest.mark.parametrize("service", PROCESS_SERVICES)
def test_compose_runs_the_procfile_command(service):
    assert words(compose()["services"][service]["command"]) == words(procfile()[service])


@pytest.mark.parametrize("service", PROCESS_SERVICES)
def test_compose_services_take_their_environment_from_dotenv(service):
    assert compose()["services"][service]["env_file"] == ".env"


def test_compose_has_the_backing_services_with_healthchecks_and_volumes():
    services = compose()["services"]

    assert {"postgres", "redis", *PROCESS_SERVICES} <= set(services)
    for name in ("postgres", "redis", "web", "bot", "worker", "beat"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"])
    assert set(compose()["volumes"]) >= {"pgdata", "redisdata", "metrics"}


@pytest.mark.parametrize("service", ("web", "bot", "worker", "beat"))
def test_compose_starts_the_processes_after_a_successful_release(service):
    depends_on = compose()["services"][service]["depends_on"]

    assert depends_on["release"]["condition"] == "service_completed_successfully"
    assert depends_on["postgres"]["condition"] == "service_healthy"


def test_compose_processes_share_the_metrics_directory():
    services = compose()["services"]

    for name in ("web", "bot", "worker"):
        assert services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/metrics"
        assert "metrics:/metrics" in services[name]["volumes"]


# --- Dockerfile --------------------------------------------------------------------------------------


def test_the_image_is_slim_python_311_installs_the_hashed_lock_and_runs_as_a_user():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "pip install --require-hashes --no-deps -r requirements.txt" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "collectstatic" in dockerfile
