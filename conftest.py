"""Shared pytest fixtures for the whole repository (see services/common/testing.py)."""

pytest_plugins = ["services.common.testing"]
