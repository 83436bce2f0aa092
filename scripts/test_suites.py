"""`make test`: run each test suite in its own pytest session, then one summary line.

Each suite (a service's tests, the gateway's, the cross-service journeys, the deployment
tests) gets its own session, hence its own embedded PostgreSQL and NATS and its own streams:
one suite's fake upstream events never reach another suite's running services. A suite that
fails, errors, or collects no test (pytest exit 5) fails the run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

SUITES = (
    "services/common",
    "services/x12",
    "services/claims",
    "services/negotiation",
    "services/settlement",
    "services/fees",
    "services/ledger",
    "services/ops",
    "gateway",
    "tests/contract",
    "tests/structure",
    "tests/e2e",
    "tests/jobs",
    "tests/console",
    "tests/deploy",
    "tests/local",
)
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")


def main(extra: list[str]) -> int:
    totals: dict[str, int] = {}
    failed_suites: list[str] = []
    started = time.monotonic()
    for suite in SUITES:
        print(f"\n=== {suite}", flush=True)
        suite_started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "pytest", "-q", suite, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        last = ""
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            if line.strip():
                last = line
        code = process.wait()
        for number, kind in COUNT.findall(last):
            key = "errors" if kind.startswith("error") else kind
            totals[key] = totals.get(key, 0) + int(number)
        print(f"=== {suite}: exit {code} in {time.monotonic() - suite_started:.0f} s", flush=True)
        if code != 0:
            failed_suites.append(f"{suite} (exit {code}{', no tests' if code == 5 else ''})")
    failures = totals.get("failed", 0) + totals.get("errors", 0)
    print(f"\nsuites took {time.monotonic() - started:.0f} s; failed suites: "
          f"{', '.join(failed_suites) or 'none'}")
    skipped = f", {totals.get('skipped', 0)} skipped" if totals.get("skipped") else ""
    print(f"total: {totals.get('passed', 0)} passed, {failures} failed{skipped}")
    return 1 if failed_suites else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
