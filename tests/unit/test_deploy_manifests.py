"""No container engine runs here, so the deployment files are checked
against the code: they parse, every component is there, and commands, image,
ports, probes and settings agree with what the code reads."""
import glob
import os
import re
import shlex

import pytest
import yaml

from gateway.app import create_app
from tests.suite import procfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
COMPONENTS = ("auth", "declarations", "batches", "residents", "notices", "gateway")


def k8s_documents():
    docs = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def deployments():
    return {d["metadata"]["name"].removeprefix("edt-"): d for d in k8s_documents() if d["kind"] == "Deployment"}


def compose():
    with open(os.path.join(DEPLOY, "compose.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def config_placeholders():
    """Every ${VAR:default} the services' config files read."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "services", "*", "config.yaml")):
        with open(path, encoding="utf-8") as f:
            names |= set(re.findall(r"\$\{([A-Z_]+):", f.read()))
    return names


def test_every_kubernetes_file_parses_and_has_a_kind():
    docs = k8s_documents()
    assert docs and all("kind" in d and "apiVersion" in d for d in docs)


def test_every_component_has_a_deployment_service_and_autoscaler():
    kinds = {(d["kind"], d["metadata"]["name"]) for d in k8s_documents()}
    for name in COMPONENTS:
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler"):
            assert (kind, f"edt-{name}") in kinds


def test_every_component_is_in_compose_with_replicas():
    services = compose()["services"]
    for name in COMPONENTS:
        assert services[name]["deploy"]["replicas"] >= 1
    assert {"rabbitmq", "postgres"} <= set(services)


@pytest.mark.parametrize("name", COMPONENTS)
def test_commands_equal_the_procfile(name):
    expected = shlex.split(procfile()[name])
    expected[0] = "python" if expected[0].startswith("python") else expected[0]
    assert container(deployments()[name])["command"] == expected
    assert compose()["services"][name]["command"] == expected


def test_every_container_uses_the_one_image():
    assert {container(d)["image"] for d in deployments().values()} == {"edt:latest"}


def test_gateway_port_and_probes_match_the_app():
    gw = container(deployments()["gateway"])
    assert gw["ports"][0]["containerPort"] == 8000
    assert {"name": "PORT", "value": "8000"} in gw["env"]
    rules = {r.rule for r in create_app({"TESTING": True}).url_map.iter_rules()}
    assert gw["readinessProbe"]["httpGet"]["path"] == "/readyz" in rules
    assert gw["livenessProbe"]["httpGet"]["path"] == "/healthz" in rules


def test_service_probes_are_real_health_checks():
    for name in ("auth", "declarations", "residents", "notices"):
        probe = container(deployments()[name])["livenessProbe"]["exec"]["command"]
        assert probe[:3] == ["python", "-m", "common.healthcheck"]


def test_kubernetes_provides_every_setting_without_a_production_default():
    docs = k8s_documents()
    provided = set()
    for d in docs:
        if d["kind"] == "ConfigMap":
            provided |= set(d["data"])
        if d["kind"] == "Secret":
            provided |= set(d["stringData"])
    needed = {n for n in config_placeholders() if n.endswith("DATABASE_URL")} | {"AMQP_URI", "HEARTBEAT_FILE"}
    assert needed <= provided


def test_compose_env_provides_every_database_and_the_broker():
    with open(os.path.join(DEPLOY, "compose.env"), encoding="utf-8") as f:
        provided = {line.split("=", 1)[0] for line in f if "=" in line and not line.startswith("#")}
    needed = {n for n in config_placeholders() if n.endswith("DATABASE_URL")} | {"AMQP_URI"}
    assert needed <= provided


def test_procfile_service_classes_exist():
    import importlib

    for name, command in procfile().items():
        for target in shlex.split(command):
            if ":" in target and target.startswith("services."):
                module, cls = target.split(":")
                assert hasattr(importlib.import_module(module), cls), target
