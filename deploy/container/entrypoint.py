"""Container entrypoint: run the component named by the first argument or by `OON_SERVICE`.

`python -m deploy.container.entrypoint claims` execs `python -m services.claims.main`, so the
service itself is PID 1's only child-free process and receives SIGTERM directly. The other
commands are `healthcheck` (the gRPC health probe) and `setup-schemas` (the schema set-up job).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from deploy.catalog import COMPONENTS, UnknownComponentError, component_named

TOOLS: Mapping[str, str] = {
    "healthcheck": "deploy.container.healthcheck",
    "setup-schemas": "deploy.schema_setup",
}

USAGE = (
    "usage: entrypoint [COMPONENT|TOOL] [ARGS...]\n"
    f"  COMPONENT: {', '.join(COMPONENTS)} (or set OON_SERVICE)\n"
    f"  TOOL: {', '.join(TOOLS)}"
)


def command_for(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The argv to exec for this container's arguments and environment."""
    name = argv[0] if argv else environ.get("OON_SERVICE", "")
    if not name:
        raise UnknownComponentError("no component given: pass one as argument or set OON_SERVICE")
    rest = list(argv[1:])
    if name in TOOLS:
        return [sys.executable, "-m", TOOLS[name], *rest]
    return [sys.executable, "-m", component_named(name).module, *rest]


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    try:
        command = command_for(args, os.environ)
    except UnknownComponentError as exc:
        print(f"entrypoint: {exc}\n{USAGE}", file=sys.stderr)
        return 64  # EX_USAGE
    sys.stdout.flush()
    os.execv(command[0], command)  # noqa: S606 - replaces this process; never returns


if __name__ == "__main__":
    sys.exit(main())
