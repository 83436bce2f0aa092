"""`make structure`: the shape of the house (issue 20), checked on the source, not by review.

Four rules over the Python files under `services/` and `gateway/`:

1. size: no file is over 600 lines (a longer one holds more than one concept: split it).
2. cycles: no import cycle between modules. Counted are module-level imports (`if`/`try`
   blocks included) and those under `if TYPE_CHECKING:` (a cycle for the type checker is still
   two modules that cannot be understood apart); an import inside a function is left out.
3. services: no service package imports another (`services.claims` never imports
   `services.settlement`, not even inside a function or for typing). `services.common`,
   `services.x12` and `services.ops` (the operations every service serves) are shared: services
   may import them, they import no service -- except the operator tools of TOOL_MODULES
   (`services.ops.rebuild` puts every service's read models together), which no service imports
   (a service's tests may run a tool against that service).
4. domain state: no state declared as `dict[str, Any]` (nor `Dict[str, Any]`) in a
   `services/<svc>/domain/` module (a module or class attribute, a dataclass field, a
   `self.<name>: ...` in a method): domain state is typed (value objects, dataclasses), never a
   bag of anything. Function signatures are boundaries and are not counted, nor are the fields
   of a domain event (a class deriving from `...Event` / `...Created`): those are the stored
   record of a fact, which the event's `apply` turns into typed state.

Usage: `python scripts/check_structure.py [ROOT]` (ROOT defaults to the repository). Prints one
line per finding, then a summary; exits 1 when anything is found, 0 otherwise.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

MAX_LINES = 600
SCANNED = ("services", "gateway")
SHARED_PACKAGES = frozenset({"common", "x12", "ops"})
# Operator tools that put every service's read models together (`python -m services.ops.rebuild`)
# or run a service's upgrade step (`python -m services.ops.backfill_waitlists`, settlement's):
# they may import services; no service imports them.
TOOL_MODULES = frozenset({"services.ops.rebuild", "services.ops.backfill_waitlists"})
SKIPPED_DIRS = frozenset({"__pycache__", "gen", ".venv", "node_modules"})
MODULE_LEVEL, TYPING, IN_FUNCTION = "module level", "typing", "in a function"


@dataclass(frozen=True)
class Finding:
    rule: str
    where: str  # "path:line" or a cycle's first module
    message: str

    def __str__(self) -> str:
        return f"{self.where}: [{self.rule}] {self.message}"


@dataclass(frozen=True)
class Import:
    target: str  # dotted name as written, resolved for relative imports
    names: tuple[str, ...]  # `from target import names`; () for `import target`
    line: int
    kind: str  # MODULE_LEVEL, TYPING (under `if TYPE_CHECKING:`) or IN_FUNCTION


@dataclass
class Module:
    name: str
    path: Path
    relative: str
    source: str
    tree: ast.Module
    imports: list[Import] = field(default_factory=list)


# --- reading the tree ---------------------------------------------------------------------------


def python_files(root: Path) -> Iterator[Path]:
    for top in SCANNED:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if not SKIPPED_DIRS.intersection(path.relative_to(root).parts):
                yield path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def imports_of(name: str, is_package: bool, tree: ast.Module) -> list[Import]:
    found: list[Import] = []

    def visit(nodes: Iterable[ast.stmt], kind: str) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend(Import(alias.name, (), node.lineno, kind) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, is_package, node)
                names = tuple(alias.name for alias in node.names)
                found.append(Import(target, names, node.lineno, kind))
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.body, IN_FUNCTION if kind == IN_FUNCTION else TYPING)
                visit(node.orelse, kind)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(_statements(node), IN_FUNCTION)
            else:
                visit(_statements(node), kind)

    visit(tree.body, MODULE_LEVEL)
    return found


def _statements(node: ast.AST) -> list[ast.stmt]:
    """The statements directly nested in `node` (bodies of if/try/with/for/match...)."""
    nested: list[ast.stmt] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            nested.append(child)
        elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
            nested.extend(child.body)
    return nested


def read_tree(root: Path) -> tuple[dict[str, Module], list[Finding]]:
    modules: dict[str, Module] = {}
    unreadable: list[Finding] = []
    for path in python_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=relative)
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            unreadable.append(Finding("syntax", relative, f"cannot be read or parsed: {exc}"))
            continue
        name = module_name(root, path)
        module = Module(name, path, relative, source, tree)
        module.imports = imports_of(name, path.name == "__init__.py", tree)
        modules[name] = module
    return modules, unreadable


# --- the rules ----------------------------------------------------------------------------------


def check_sizes(modules: dict[str, Module]) -> list[Finding]:
    findings = []
    for module in modules.values():
        lines = len(module.source.splitlines())
        if lines > MAX_LINES:
            findings.append(Finding(
                "size", module.relative,
                f"{lines} lines, over the limit of {MAX_LINES}: split it by concept"))
    return findings


def targets(module: Module, imported: Import, known: dict[str, Module]) -> list[str]:
    """The modules of the tree an import names: `from pkg import mod` names `pkg.mod` when that
    is a module of the tree, else `pkg` itself; modules outside the tree are dropped."""
    if not imported.names:
        name = imported.target
        while name and name not in known:
            name = name.rpartition(".")[0]
        return [name] if name else []
    found: list[str] = []
    for alias in imported.names:
        candidate = f"{imported.target}.{alias}"
        if candidate in known:
            found.append(candidate)
        elif imported.target in known:
            found.append(imported.target)
    return sorted(set(found) - {module.name})


def import_graph(modules: dict[str, Module]) -> dict[str, dict[str, Import]]:
    """module → {imported module: its first import}; imports inside functions are left out
    (see the module's docstring)."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for module in modules.values():
        for imported in module.imports:
            if imported.kind in (MODULE_LEVEL, TYPING):
                for target in targets(module, imported, modules):
                    graph[module.name].setdefault(target, imported)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def a_cycle(component: list[str], graph: dict[str, dict[str, Import]]) -> list[str]:
    """One shortest cycle through the component's first module (breadth first)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start, start]


def check_cycles(modules: dict[str, Module]) -> list[Finding]:
    graph = import_graph(modules)
    findings = []
    for component in strongly_connected(graph):
        cycle = a_cycle(component, graph)
        steps = "; ".join(
            f"{modules[a].relative}:{graph[a][b].line} imports {b}"
            f"{' (for typing)' if graph[a][b].kind == TYPING else ''}"
            for a, b in pairwise(cycle))
        knot = (f" ({len(component)} modules in this knot: {', '.join(component)})"
                if len(component) > len(cycle) - 1 else "")
        findings.append(Finding(
            "cycle", modules[cycle[0]].relative,
            f"import cycle{knot}: {steps}. Move what both need into a module of its own, or "
            "invert the dependency"))
    return findings


def service_of(name: str) -> str | None:
    """`claims` for `services.claims.domain.x`; None outside services/."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "services" else None


def check_services(modules: dict[str, Module]) -> list[Finding]:
    findings = []
    for module in modules.values():
        own = service_of(module.name)
        if own is None:
            continue
        for imported in module.imports:
            where = f"{module.relative}:{imported.line}"
            if ".tests" not in module.name and any(
                    imported.target == tool or imported.target.startswith(f"{tool}.")
                    for tool in TOOL_MODULES):
                findings.append(Finding(
                    "services", where, f"services.{own} imports the operator tool "
                    f"{imported.target}: tools compose the services, never the other way"))
                continue
            if module.name in TOOL_MODULES:
                continue
            other = service_of(imported.target)
            if imported.target == "services" and imported.names:
                # `from services import claims`
                others = [n for n in imported.names if n != own]
                other = next((n for n in others if n not in SHARED_PACKAGES), None)
            if other is None or other == own or other in SHARED_PACKAGES:
                continue
            if own in SHARED_PACKAGES:
                findings.append(Finding(
                    "services", where,
                    f"the shared package services.{own} imports the service services.{other} "
                    f"({imported.target}): shared code imports no service"))
            else:
                findings.append(Finding(
                    "services", where,
                    f"services.{own} imports services.{other} ({imported.target}): a service "
                    "never imports another; read its events (proto/oonledger/<svc>/v1/"
                    "events.proto) or move shared code to services/common"))
    return findings


def _is_any_dict(node: ast.Subscript) -> bool:
    head = node.value
    name = head.id if isinstance(head, ast.Name) else (
        head.attr if isinstance(head, ast.Attribute) else "")
    if name not in ("dict", "Dict"):
        return False
    args = node.slice
    if not (isinstance(args, ast.Tuple) and len(args.elts) == 2):
        return False
    key, value = args.elts

    def named(expr: ast.expr, wanted: str) -> bool:
        return (isinstance(expr, ast.Name) and expr.id == wanted) or (
            isinstance(expr, ast.Attribute) and expr.attr == wanted)

    return named(key, "str") and named(value, "Any")


def _holds_any_dict(annotation: ast.expr) -> bool:
    """`annotation` is or contains `dict[str, Any]`, written or quoted."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Subscript) and _is_any_dict(node):
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "Any" in node.value:
            try:
                quoted = ast.parse(node.value, mode="eval")
            except SyntaxError:
                continue
            if _holds_any_dict(quoted.body):
                return True
    return False


def state_any_dicts(tree: ast.Module) -> Iterator[int]:
    """Lines where state is declared as `dict[str, Any]`: a module or class attribute (a
    dataclass field, an aggregate's attribute) or `self.<name>: ...` in a method. A function's
    parameters and return are a boundary, not state (eventsourcing's `upcast_v1_v2(state)` takes
    the stored dict; a `to_json()` returns one), and are not counted."""

    def visit(nodes: Iterable[ast.stmt], holds_state: bool) -> Iterator[int]:
        for node in nodes:
            if isinstance(node, ast.AnnAssign) and (
                    holds_state or isinstance(node.target, ast.Attribute)):
                if _holds_any_dict(node.annotation):
                    yield node.lineno
            elif isinstance(node, ast.ClassDef):
                # An event's fields are its stored record (JSON, decoded into value objects by
                # its `apply`), not the aggregate's state.
                yield from visit(node.body, not _is_event_class(node))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from visit(_statements(node), False)
            else:
                yield from visit(_statements(node), holds_state)

    yield from visit(tree.body, True)


def _is_event_class(node: ast.ClassDef) -> bool:
    """A domain event: a class deriving from an aggregate's `Event` or `Created`."""
    for base in node.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if name in ("Event", "Created", "DomainEvent", "AggregateCreated", "AggregateEvent"):
            return True
    return False


def is_domain_module(module: Module) -> bool:
    parts = module.relative.split("/")
    return (len(parts) >= 4 and parts[0] == "services" and parts[2] == "domain"
            and parts[1] not in SHARED_PACKAGES)


def check_domain_state(modules: dict[str, Module]) -> list[Finding]:
    findings = []
    for module in modules.values():
        if not is_domain_module(module):
            continue
        for line in sorted(set(state_any_dicts(module.tree))):
            findings.append(Finding(
                "domain-state", f"{module.relative}:{line}",
                "dict[str, Any] in a domain module: give the state a type (a value object or "
                "dataclass with named, typed fields)"))
    return findings


def check(root: Path) -> list[Finding]:
    modules, findings = read_tree(root)
    for rule in (check_sizes, check_cycles, check_services, check_domain_state):
        findings.extend(rule(modules))
    return findings


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    findings = check(root)
    for finding in findings:
        print(finding)
    if findings:
        by_rule: dict[str, int] = {}
        for finding in findings:
            by_rule[finding.rule] = by_rule.get(finding.rule, 0) + 1
        summary = ", ".join(f"{count} {rule}" for rule, count in sorted(by_rule.items()))
        print(f"structure check FAILED: {len(findings)} finding(s) ({summary}); "
              "see scripts/check_structure.py for the rules")
        return 1
    print(f"structure check passed: {', '.join(SCANNED)} (files <= {MAX_LINES} lines, no import "
          "cycle, no service importing another, no dict[str, Any] in a domain module)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
