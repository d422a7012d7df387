"""compose.yaml, checked by reading it (no Docker engine here): every askdocs setting it sets is a real
Settings field with a valid value, every service has an image, healthchecks back every ``service_healthy``,
and the replicas share the Chroma server and the data and model volumes.

``tests/test_deployment.py`` then runs the same layout on loopback, with the same health endpoints.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from app.auth import ENV_ADMIN_HASH
from askdocs.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
REPLICAS = ("web", "api")
ASKDOCS_SERVICES = ("chroma", "index", *REPLICAS)
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def resolve(value: object) -> str:
    """``value`` as compose sees it with no variables set: each ``${NAME:-default}`` is its default."""

    def default(match: re.Match) -> str:
        assert match.group(2) is not None, f"${{{match.group(1)}}} has no default: compose up would need it"
        return match.group(2)

    return _VARIABLE.sub(default, str(value))


def environment(service: str) -> dict[str, str]:
    return {key: resolve(value) for key, value in (SERVICES[service].get("environment") or {}).items()}


def health_url(service: str) -> str:
    """The URL a service's healthcheck fetches (the image's ``askdocs-healthcheck URL``, or vLLM's)."""
    test = " ".join(SERVICES[service]["healthcheck"]["test"])
    found = re.search(r"https?://[^\s'\"]+", test)
    assert found, f"{service}'s healthcheck names no URL: {test}"
    return found.group(0)


def health_path(service: str) -> str:
    return urlparse(health_url(service)).path


def test_every_service_has_a_pinned_image_or_our_build():
    for name, service in SERVICES.items():
        image = resolve(service.get("image", ""))
        assert image or service.get("build"), f"{name} has neither image nor build"
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image ({image!r})"
    for name in ASKDOCS_SERVICES:
        assert SERVICES[name]["build"]["context"] == "."
        assert resolve(SERVICES[name]["image"]) == resolve(SERVICES["web"]["image"]), "one image for all"


def test_the_askdocs_settings_set_are_real_and_valid(monkeypatch):
    known = {f"ASKDOCS_{field.upper()}" for field in Settings.model_fields} | {ENV_ADMIN_HASH}
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    for name in ASKDOCS_SERVICES:
        env = environment(name)
        for key in env:
            if key.startswith("ASKDOCS_"):
                assert key in known, f"{name} sets {key}, which no part of askdocs reads"
            else:
                assert key in entrypoint, f"{name} sets {key}, which the entrypoint does not read"
        for key in [k for k in os.environ if k.startswith("ASKDOCS_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            if key.startswith("ASKDOCS_") and key != ENV_ADMIN_HASH:
                monkeypatch.setenv(key, value)
        Settings()  # raises, naming the variable, on a value askdocs would refuse at start-up


def test_the_replicas_share_the_chroma_server_the_data_and_the_model_cache():
    chroma_port = int(urlparse(health_url("chroma")).port)
    for name in (*REPLICAS, "index"):
        settings = {key: value for key, value in environment(name).items() if key.startswith("ASKDOCS_")}
        assert settings["ASKDOCS_CHROMA_MODE"] == "server"
        assert (
            settings["ASKDOCS_CHROMA_HOST"] == "chroma"
            and int(settings["ASKDOCS_CHROMA_PORT"]) == chroma_port
        )
        volumes = dict(v.split(":")[:2] for v in SERVICES[name]["volumes"])
        assert volumes.get("data") == settings["ASKDOCS_DATA_DIR"] == "/data"
        assert volumes.get("models") == settings["ASKDOCS_MODEL_CACHE"] == "/models"
        assert settings["ASKDOCS_API_BASE_URL"] == "http://vllm:8000/v1"  # the profile's service
    chroma_volumes = dict(v.split(":")[:2] for v in SERVICES["chroma"]["volumes"])
    assert chroma_volumes == {"chroma": environment("chroma")["CHROMA_PATH"]}
    assert set(COMPOSE["volumes"]) >= {"chroma", "data", "models"}


def test_ports_match_the_settings_and_the_healthchecks():
    api = environment("api")
    assert api["ASKDOCS_REST_HOST"] == "0.0.0.0"
    assert SERVICES["api"]["ports"] == [f"{api['ASKDOCS_REST_PORT']}:{api['ASKDOCS_REST_PORT']}"]
    assert urlparse(health_url("api")).port == int(api["ASKDOCS_REST_PORT"])
    assert SERVICES["web"]["ports"] == ["8501:8501"]
    assert urlparse(health_url("web")).port == 8501
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    assert "--server.port 8501" in entrypoint
    assert "ports" not in SERVICES["chroma"], "Chroma has no authentication here: keep it off the host"
    assert health_path("api") == "/health" and health_path("web") == "/_stcore/health"
    assert health_path("chroma") == "/api/v2/heartbeat"


def test_each_service_runs_its_entrypoint_command():
    assert {name: SERVICES[name]["command"] for name in ASKDOCS_SERVICES} == {
        "chroma": ["chroma"],
        "index": ["index"],
        "web": ["web"],
        "api": ["api"],
    }
    # The replicas leave the samples to the one-shot index service (two BM25 rebuilds at once would race).
    for name in REPLICAS:
        assert environment(name)["INDEX_SAMPLES"] == "0"


def test_depends_on_waits_for_healthchecks_and_the_index_job():
    for name, service in SERVICES.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in SERVICES, f"{name} depends on an unknown service {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], (
                    f"{name} waits for {target}'s health, which has no check"
                )
            elif condition == "service_completed_successfully":
                assert SERVICES[target].get("restart") == "no", f"{target} is a one-shot job"
            if "profiles" in SERVICES[target]:
                assert rule.get("required") is False, f"{name} must start without {target}'s profile"
    for name in REPLICAS:
        deps = SERVICES[name]["depends_on"]
        assert deps["chroma"]["condition"] == "service_healthy"
        assert deps["index"]["condition"] == "service_completed_successfully"
        assert deps["vllm"]["condition"] == "service_healthy"
    assert SERVICES["index"]["depends_on"]["chroma"]["condition"] == "service_healthy"


def test_the_model_server_is_an_optional_gpu_profile_serving_the_model_name_askdocs_asks_for():
    vllm = SERVICES["vllm"]
    assert vllm["profiles"] == ["vllm"]
    assert resolve(vllm["image"]).startswith("vllm/vllm-openai:v")
    command = [resolve(part) for part in vllm["command"]]
    served = command[command.index("--served-model-name") + 1]
    assert served == environment("web")["ASKDOCS_API_MODEL"] == environment("api")["ASKDOCS_API_MODEL"]
    assert command[command.index("--port") + 1] == str(
        urlparse(environment("api")["ASKDOCS_API_BASE_URL"]).port
    )
    assert health_path("vllm") == "/health"
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    # Off by default: without the profile the replicas use the local generator.
    assert environment("web")["ASKDOCS_GENERATOR_BACKEND"] == "local"
