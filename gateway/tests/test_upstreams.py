"""Upstream addressing from the environment and the retry policy (reads only, UNAVAILABLE only)."""

from __future__ import annotations

import json

from gateway.catalog import Catalog
from gateway.upstreams import service_config, upstream_address

CATALOG = Catalog.discover()


def test_addresses_come_from_the_environment_with_default_ports():
    assert upstream_address("claims", {}) == "127.0.0.1:50051"
    assert upstream_address("ledger", {"LEDGER_ADDRESS": "dns:///ledger-headless:50055"}) == \
        "dns:///ledger-headless:50055"
    assert upstream_address("fees", {"FEES_ADDR": "fees:1", "FEES_ADDRESS": "x:2"}) == "fees:1"


def test_only_reads_are_retried_and_only_on_unavailable():
    config = json.loads(service_config(CATALOG, "claims"))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method_config,) = config["methodConfig"]
    retried = {name["method"] for name in method_config["name"]}
    assert {"GetClaim", "ListClaims"} <= retried
    assert not retried & {"RegisterClaim", "ImportClaims", "RecordAdjudication"}
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]

