"""Loading the deployment files for the tests: every YAML document under deploy/, by kind."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse the deployment manifests")

REPO = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "compose"
NATS_SERVER = REPO / ".venv" / "bin" / "nats-server"


@dataclass(frozen=True)
class Document:
    path: pathlib.Path
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name", ""))


def yaml_files(under: pathlib.Path = DEPLOY) -> list[pathlib.Path]:
    """Every YAML file we own under deploy/ (deploy/local belongs to the local runner)."""
    files = [*under.rglob("*.yaml"), *under.rglob("*.yml")]
    return sorted(p for p in files if "local" not in p.relative_to(DEPLOY).parts[:1])


def documents(path: pathlib.Path) -> Iterator[Document]:
    with path.open() as handle:
        for body in yaml.safe_load_all(handle):
            if body is not None:
                yield Document(path, body)


def applied_documents() -> list[Document]:
    """What `kubectl apply -k deploy/kubernetes` applies: the kustomization's resources."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return [
        document
        for resource in kustomization["resources"]
        for document in documents(KUBERNETES / resource)
    ]


def by_kind(kind: str, docs: list[Document] | None = None) -> dict[str, Document]:
    return {d.name: d for d in (applied_documents() if docs is None else docs) if d.kind == kind}


def pod_spec(document: Document) -> dict[str, Any]:
    spec: dict[str, Any] = document.body["spec"]["template"]["spec"]
    return spec


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())
