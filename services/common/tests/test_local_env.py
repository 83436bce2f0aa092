"""The running local system's settings for tools run beside `make run`."""

from __future__ import annotations

import io

from services.common.local_env import local_settings, remove_local_env, write_local_env


def test_the_environment_wins_and_what_it_lacks_comes_from_the_running_system(tmp_path):
    write_local_env(tmp_path, {"DATABASE_URL": "postgresql://local", "NATS_URL": "nats://local",
                               "GATEWAY_ADDR": "127.0.0.1:50050"})
    err = io.StringIO()
    env = local_settings({"OON_DATA_DIR": str(tmp_path), "NATS_URL": "nats://mine"},
                         tool="tool", err=err)
    assert env["DATABASE_URL"] == "postgresql://local" and env["NATS_URL"] == "nats://mine"
    assert env["GATEWAY_ADDR"] == "127.0.0.1:50050"
    said = err.getvalue()
    assert "tool: using the local system" in said and "postgresql://local" in said
    assert "nats://local" not in said


def test_without_a_running_system_nothing_changes_and_nothing_is_said(tmp_path):
    write_local_env(tmp_path, {"DATABASE_URL": "postgresql://local"})
    remove_local_env(tmp_path)
    err = io.StringIO()
    environ = {"OON_DATA_DIR": str(tmp_path)}
    assert local_settings(environ, tool="tool", err=err) == environ
    assert err.getvalue() == ""
