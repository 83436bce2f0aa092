"""The admin's page: the tenant's console accounts, inviting a person, resetting a password.

A link is shown once to the admin, who passes it on; the person chooses their own password.
An admin manages the accounts of their own tenant only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.console.app import Page
from gateway.http_server import Response
from services.common.auth import ROLES

if TYPE_CHECKING:
    from gateway.console.app import Console

log = logging.getLogger(__name__)
ADMIN_ROLES = ("admin",)


def register(console: Console) -> None:
    router = console.router
    console.add_nav("People", "/console/admin/users", ADMIN_ROLES)

    async def listing(page: Page, status: int = 200, **extra: object) -> Response:
        people = await console.users.list(page.user.tenant_id)
        context: dict[str, object] = {"link": None, "error": "", "form": {}}
        context.update(extra)
        return page.render("accounts.html", status, title="People", people=people,
                           roles=sorted(ROLES), **context)

    @router.get("/console/admin/users", ADMIN_ROLES)
    async def people(page: Page) -> Response:
        return await listing(page)

    @router.post("/console/admin/users/invite", ADMIN_ROLES)
    async def invite(page: Page) -> Response:
        roles = [role for role in sorted(ROLES) if page.form.get(f"role_{role}")]
        try:
            link = await console.users.invite(
                login=page.form.get("login", ""), tenant_id=page.user.tenant_id, roles=roles,
                display_name=page.form.get("name", ""), now=page.now,
                invited_by=page.user.actor)
        except ValueError as exc:
            return await listing(page, 400, error=str(exc), form=page.form)
        log.info("console: %s invited %s (%s)", page.user.actor, link.user.user_id,
                 ",".join(sorted(link.user.roles)))
        return await listing(page, link=link)

    @router.post("/console/admin/users/reset", ADMIN_ROLES)
    async def reset(page: Page) -> Response:
        link = await console.users.reset_link(page.form.get("login", ""), page.now,
                                              tenant_id=page.user.tenant_id)
        if link is None:
            return await listing(page, 404, error="no such person in your tenant")
        log.info("console: %s reset the password of %s", page.user.actor, link.user.user_id)
        return await listing(page, link=link)
