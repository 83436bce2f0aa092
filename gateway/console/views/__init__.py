"""The console's pages. Each module registers its routes and menu entries in `register`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.console.app import Console


def install(console: Console) -> None:
    from gateway.console.views import (
        accounts,
        approvals,
        audit,
        case,
        finance,
        imports,
        queue,
        signin,
    )

    for module in (signin, queue, case, approvals, accounts, imports, finance, audit):
        module.register(console)
