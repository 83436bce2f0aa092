"""Shared pytest fixtures for the whole repository (see tests/support/plugin.py)."""

pytest_plugins = ["tests.support.plugin"]
