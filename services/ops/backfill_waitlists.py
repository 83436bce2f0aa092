"""List payments queued before the settlement waitlist on their claims' waitlists (upgrade step):
`python -m services.ops.backfill_waitlists [--tenant T ...]`.

Run once after upgrading settlement to the release with the waitlist (docs/operations.md §12),
as a Job with the settlement service's environment (DATABASE_URL, NATS_URL, OON_NAMESPACE, the
keys), while the service runs. Every still-open claim exception queued with "no settlement is
open for the matched claim" is listed on its claim's `SettlementWaitlist`
(`services/settlement/adapters/waitlist_backfill.py`); the running service's
`awaiting-settlement` reaction then posts those whose settlement is open, and the others when it
opens. Idempotent: running it again lists nothing more. `--tenant` (repeatable) limits it to
those tenants; all tenants by default. Prints one line per tenant and a total; exit 0, or 2 when
the environment is incomplete.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from services.common.errors import ConfigurationError
from services.common.local_env import local_settings
from services.common.settings import Settings
from services.settlement.adapters.waitlist_backfill import BackfillReport, backfill_waitlists
from services.settlement.application import SettlementApplication


def run(settings: Settings, tenants: Sequence[str] | None = None,
        progress: Callable[[str], None] = print) -> BackfillReport:  # fmt: skip
    """The command's work against `settings`' database (the settlement service's)."""
    app = SettlementApplication(settings)
    try:
        return backfill_waitlists(app, settings.database_url, settings.schema, tenants, progress)
    finally:
        app.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ops.backfill_waitlists",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--tenant", action="append", default=None,
                        help="only this tenant (repeatable); all tenants when absent")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        settings = Settings.from_env(
            "settlement", local_settings(tool="services.ops.backfill_waitlists"))
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    report = run(settings, options.tenant)
    print(f"waitlist backfill: {report.tenants} tenant(s), {report.examined} waiting item(s) "
          f"examined, {report.listed} listed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
