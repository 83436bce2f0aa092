"""The import-job journeys (837 and 835 jobs, kill -9 mid-job) on a stack of their own.

They push thousands of claims and payments through every service; on the shared e2e stack the
journeys after them waited behind that backlog and timed out. `make test` runs this folder as
its own suite (scripts/test_suites.py): its own embedded PostgreSQL, NATS and services.
"""

from tests.e2e.conftest import channel, stack  # noqa: F401 - the e2e stack's fixtures
