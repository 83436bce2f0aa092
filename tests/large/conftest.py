"""The long end-to-end runs (`make test-large`) use the e2e suite's stack: every service
in-process behind the gateway."""

from tests.e2e.conftest import *  # noqa: F403 - the e2e fixtures (stack, channel, ...)
