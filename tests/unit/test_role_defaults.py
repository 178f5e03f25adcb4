"""The roles' defaults agree with the app's: a deploy without overrides runs the app's defaults.

Ansible cannot read app/config/schema.py, so a role that writes a setting to the env file
carries its own default; this test is what keeps the two from drifting.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import yaml

from app.config import Settings
from tests.support.paths import REPO
from tests.support.roles import role_defaults, shared_vars

# Role variable -> the app setting whose default it must equal.
SAME_AS_SETTING = {
    "goalgpt_base_db_max_connections": "DB_MAX_CONNECTIONS",
    "goalgpt_base_web_workers": "GUNICORN_WORKERS",
    "goalgpt_base_web_threads": "GUNICORN_THREADS",
}
# Role variable -> the app URL (or HOST:PORT) setting whose default port it must equal.
SAME_PORT_AS = {
    "goalgpt_base_web_port": "GUNICORN_BIND",
    "redis_cache_port": "REDIS_URL",
    "redis_queue_port": "RQ_REDIS_URL",
    "postgresql_port": "DATABASE_URL",
}
# The Redis defaults' one home is playbooks/group_vars/all/main.yml (every host reads
# them there): the redis role's defaults are these facts, nothing else restates them.
REDIS_FACTS = {
    "redis_instances": "goalgpt_redis_instances",
    "redis_cache_port": "goalgpt_redis_cache_port",
    "redis_queue_port": "goalgpt_redis_queue_port",
}
RESTATED_REDIS_DEFAULT = re.compile(r"\b63(79|80)\b|'cache', 'queue'|\[cache, queue\]")
SHARED_FACTS = REPO / "playbooks" / "group_vars" / "all" / "main.yml"
# `SETTING | default(N)` in a role's Jinja: N must be the app's default of SETTING.
JINJA_DEFAULT = re.compile(r"\.([A-Z][A-Z0-9_]+) \| default\((\d+)\)")


def default_of(setting: str) -> object:
    return Settings.model_fields[setting].default


def test_role_variables_default_to_the_apps_defaults():
    roles = role_defaults()

    drift = {
        var: (roles[var], default_of(setting))
        for var, setting in SAME_AS_SETTING.items()
        if roles[var] != default_of(setting)
    }

    assert drift == {}, "role default vs app default"


def test_role_ports_are_the_ports_of_the_apps_default_urls():
    roles = role_defaults()

    for var, setting in SAME_PORT_AS.items():
        default = str(default_of(setting))
        port = urlsplit(default if "//" in default else f"//{default}").port
        assert roles[var] == port, f"{var}={roles[var]} but {setting} defaults to {default}"


def test_settings_defaults_written_into_role_templates_are_the_apps():
    roles_text = {
        path: path.read_text(encoding="utf-8")
        for path in REPO.glob("roles/*/**/*")
        if path.is_file() and path.suffix in (".yml", ".j2")
    }

    seen = []
    for path, text in roles_text.items():
        for setting, value in JINJA_DEFAULT.findall(text):
            if setting in Settings.model_fields:
                seen.append(setting)
                assert int(value) == default_of(setting), f"{path}: {setting} default({value})"
    assert "MATCH_MINUTE_TIMEOUT_MS" in seen  # the workers' stop timeout reads them


def test_the_redis_role_defaults_are_the_shared_facts():
    redis = yaml.safe_load((REPO / "roles" / "redis" / "defaults" / "main.yml").read_text())
    shared = shared_vars()

    assert {var: redis[var] for var in REDIS_FACTS} == {
        var: f"{{{{ {fact} }}}}" for var, fact in REDIS_FACTS.items()
    }
    assert shared["goalgpt_redis_instances"] == ["cache", "queue"]


def test_no_role_or_playbook_restates_a_redis_default():
    paths = [
        path
        for path in [*REPO.glob("roles/**/*"), *REPO.glob("playbooks/**/*")]
        if path.is_file() and path.suffix in (".yml", ".j2") and path != SHARED_FACTS
    ]

    restated = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if RESTATED_REDIS_DEFAULT.search(line.split("#")[0])
    ]

    assert restated == []
