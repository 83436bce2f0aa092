"""scripts/check_structure.py (`make structure`): each rule fires on a small bad tree, with a
message that names the file and the fix, and stays silent on the good tree beside it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_structure.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_structure", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


structure = _load()


def tree(root: Path, files: dict[str, str]) -> Path:
    """A repository of these files (every folder on the way a package)."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            if str(parent) != "." and not (root / parent / "__init__.py").exists():
                (root / parent / "__init__.py").write_text("")
        path.write_text(textwrap.dedent(text))
    return root


def rules(root: Path) -> list[str]:
    return [f.rule for f in structure.check(root)]


GOOD = {
    "services/common/money.py": "CENT = 1\n",
    "services/x12/segments.py": "from services.common.money import CENT\n",
    "services/claims/domain/__init__.py": "from services.claims.domain.claim import Claim\n",
    "services/claims/domain/claim.py": """\
        from dataclasses import dataclass
        from typing import Any

        from services.common.money import CENT


        @dataclass(frozen=True)
        class Claim:
            billed_cents: int = CENT
            extra: dict[str, int] | None = None
            names: list[Any] | None = None
        """,
    "services/claims/application.py": """\
        from typing import Any

        from services.claims.domain import Claim
        from services.x12.segments import CENT

        def summary(claim: Claim) -> dict[str, Any]:  # outside domain/: allowed
            return {"billed": claim.billed_cents, "unit": CENT}
        """,
    "services/settlement/adapters/grpc_api.py": """\
        from typing import TYPE_CHECKING

        from services.common import money

        if TYPE_CHECKING:
            from services.common.money import CENT

        def wire() -> None:
            from services.settlement.main import build  # a function-level import: no cycle
            build(money.CENT)
        """,
    "services/settlement/main.py": """\
        from services.settlement.adapters.grpc_api import wire

        def build(cents: int) -> None:
            wire()
        """,
    "gateway/forwarding.py": "from services.common.money import CENT\n" + "x = 1\n" * 590,
}


def test_a_good_tree_passes(tmp_path: Path) -> None:
    root = tree(tmp_path, GOOD)
    assert structure.check(root) == []
    run = subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "structure check passed" in run.stdout


def test_a_file_over_600_lines_is_named_with_its_length(tmp_path: Path) -> None:
    root = tree(tmp_path, {**GOOD, "services/claims/adapters/big.py": "x = 1\n" * 601,
                           "gateway/huge.py": "y = 2\n" * 700,
                           "deploy/local/long.py": "z = 3\n" * 900})  # not scanned
    found = sorted(structure.check(root), key=lambda f: f.where)
    assert [(f.rule, f.where) for f in found] == [
        ("size", "gateway/huge.py"), ("size", "services/claims/adapters/big.py")]
    assert "601 lines, over the limit of 600" in str(found[1])


def test_an_import_cycle_is_shown_step_by_step(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        **GOOD,
        "services/claims/domain/a.py": "from services.claims.domain.b import B\nclass A: ...\n",
        "services/claims/domain/b.py": "import services.claims.domain.c\nclass B: ...\n",
        "services/claims/domain/c.py": "from . import a\n",
    })
    found = structure.check(root)
    assert [f.rule for f in found] == ["cycle"]
    message = str(found[0])
    assert message.startswith("services/claims/domain/a.py: [cycle] import cycle")
    for step in ("services/claims/domain/a.py:1 imports services.claims.domain.b",
                 "services/claims/domain/b.py:1 imports services.claims.domain.c",
                 "services/claims/domain/c.py:1 imports services.claims.domain.a"):
        assert step in message, message


def test_a_cycle_for_the_type_checker_counts_too(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        **GOOD,
        "services/claims/domain/negotiation.py": """\
            from services.claims.domain.idr_mixin import IdrMixin
            class Negotiation(IdrMixin): ...
            """,
        "services/claims/domain/idr_mixin.py": """\
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from services.claims.domain.negotiation import Negotiation
            class IdrMixin: ...
            """,
    })
    found = structure.check(root)
    assert [f.rule for f in found] == ["cycle"]
    assert "(for typing)" in str(found[0])


def test_a_cycle_through_a_package_that_re_exports(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        **GOOD,
        "services/claims/domain/claim.py": "from services.claims.domain import Claim2\n",
        "services/claims/domain/__init__.py": """\
            from services.claims.domain.claim import Claim
            Claim2 = Claim
            """,
    })
    assert rules(root) == ["cycle"]


@pytest.mark.parametrize("statement", [
    "from services.settlement.domain import Payment",
    "import services.settlement.main",
    "from services import settlement",
    "from ...settlement import main",
])
def test_a_service_importing_another_is_refused(tmp_path: Path, statement: str) -> None:
    files = {**GOOD, "services/settlement/domain/__init__.py": "class Payment: ...\n",
             "services/claims/adapters/bad.py": f"def f():\n    {statement}\n"}
    found = structure.check(tree(tmp_path, files))
    assert [(f.rule, f.where) for f in found] == [
        ("services", "services/claims/adapters/bad.py:2")], found
    assert "services.claims imports services.settlement" in str(found[0])
    assert "a service never imports another" in str(found[0])


def test_shared_packages_import_no_service(tmp_path: Path) -> None:
    files = {**GOOD,
             "services/common/relay.py": "from services.claims.domain import Claim\n",
             "services/x12/reader.py": "import services.settlement.main\n"}
    found = structure.check(tree(tmp_path, files))
    assert sorted((f.rule, f.where) for f in found) == [
        ("services", "services/common/relay.py:1"), ("services", "services/x12/reader.py:1")]
    assert "the shared package services.common imports the service services.claims" in str(
        next(f for f in found if f.where.startswith("services/common")))


def test_operator_tools_compose_services_and_no_service_imports_them(tmp_path: Path) -> None:
    files = {**GOOD,
             "services/ops/rebuild.py": "from services.claims.domain import Claim\n",
             "services/ops/counts.py": "from services.claims.domain import Claim\n",
             "services/claims/main.py": "from services.ops.rebuild import rebuild\n",
             "services/claims/tests/test_rebuild.py": "from services.ops.rebuild import rebuild\n"}
    found = structure.check(tree(tmp_path, files))
    assert sorted((f.rule, f.where) for f in found) == [
        ("services", "services/claims/main.py:1"), ("services", "services/ops/counts.py:1")]
    assert "imports the operator tool services.ops.rebuild" in str(
        next(f for f in found if f.where.startswith("services/claims")))


@pytest.mark.parametrize("annotation", [
    "dict[str, Any]",
    "Dict[str, Any]",
    "typing.Dict[str, typing.Any]",
    "'dict[str, Any]'",
    "list[dict[str, Any]]",
])
def test_dict_str_any_in_a_domain_module_is_refused(tmp_path: Path, annotation: str) -> None:
    files = {**GOOD, "services/claims/domain/state.py": f"""\
        import typing
        from typing import Any, Dict

        class State:
            facts: {annotation}
        """}
    found = structure.check(tree(tmp_path, files))
    assert [(f.rule, f.where) for f in found] == [
        ("domain-state", "services/claims/domain/state.py:5")], found
    assert "give the state a type" in str(found[0])


def test_state_in_an_attribute_an_event_field_or_self_is_refused(tmp_path: Path) -> None:
    files = {**GOOD, "services/claims/domain/claim.py": """\
        from typing import Any

        REGISTRY: dict[str, Any] = {}

        class Claim:
            class Registered:
                claim: dict[str, Any]

            def __init__(self) -> None:
                self.lines: list[dict[str, Any]] = []
                local: dict[str, Any] = {}  # a local in a method is not state
        """}
    found = structure.check(tree(tmp_path, files))
    assert [f.where for f in found] == [
        "services/claims/domain/claim.py:3", "services/claims/domain/claim.py:7",
        "services/claims/domain/claim.py:10"], found


def test_an_events_stored_record_is_not_state(tmp_path: Path) -> None:
    files = {**GOOD, "services/claims/domain/claim.py": """\
        from typing import Any

        class Claim(TenantAggregate):
            class Registered(TenantAggregate.Created):
                claim: dict[str, Any]

            class Adjudicated(TenantAggregate.Event):
                adjudication: dict[str, Any]

            class NotAnEvent:
                bag: dict[str, Any]
        """}
    found = structure.check(tree(tmp_path, files))
    assert [f.where for f in found] == ["services/claims/domain/claim.py:11"], found


def test_function_signatures_are_boundaries_not_state(tmp_path: Path) -> None:
    """eventsourcing's upcasters take the stored dict; serializers return one."""
    files = {**GOOD, "services/claims/domain/claim.py": """\
        from typing import Any

        class Claim:
            class Registered:
                class_version = 2

                @staticmethod
                def upcast_v1_v2(state: dict[str, Any]) -> None:
                    state["frequency"] = "1"

            def to_json(self) -> dict[str, Any]:
                return {}
        """}
    assert rules(tree(tmp_path, files)) == []


def test_dict_str_any_outside_a_domain_folder_is_left_alone(tmp_path: Path) -> None:
    files = {**GOOD,
             "services/claims/adapters/mapping.py": "from typing import Any\nx: dict[str, Any]\n",
             "services/common/domain/x.py": "from typing import Any\nx: dict[str, Any]\n",
             "gateway/domain/y.py": "from typing import Any\ny: dict[str, Any]\n"}
    assert rules(tree(tmp_path, files)) == []


def test_the_command_fails_with_a_summary(tmp_path: Path) -> None:
    files = {**GOOD,
             "services/claims/domain/state.py": "from typing import Any\nx: dict[str, Any]\n",
             "services/claims/main.py": "import services.fees.main\n",
             "services/fees/main.py": "N = 1\n"}
    run = subprocess.run([sys.executable, str(SCRIPT), str(tree(tmp_path, files))],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines[-1].startswith("structure check FAILED: 2 finding(s) (1 domain-state, 1 services)")
    assert any(line.startswith("services/claims/main.py:1: [services]") for line in lines)
