"""Keyed hashes and sealed values of patient account identifiers (services/common/phi.py)."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, PhiKeyError, PhiKeys

KEYS = PhiKeys(b"k" * 32)


@given(st.text(min_size=1, max_size=40).filter(lambda t: t.strip()))
def test_seal_round_trips_and_never_shows_the_value(value: str) -> None:
    sealed = KEYS.seal(value)
    assert KEYS.unseal(sealed) == value
    assert value not in sealed or len(value) < 3


def test_index_matches_clearinghouse_case_and_blanks_but_differs_per_tenant_and_kind() -> None:
    token = KEYS.index("tenant-a", PATIENT_CONTROL_NUMBER, "pcn-0001")
    assert token == KEYS.index("tenant-a", PATIENT_CONTROL_NUMBER, " PCN-0001 ")
    assert len(token) == 64 and "PCN" not in token
    assert token != KEYS.index("tenant-b", PATIENT_CONTROL_NUMBER, "PCN-0001")
    assert token != KEYS.index("tenant-a", PAYER_CLAIM_NUMBER, "PCN-0001")
    assert token != PhiKeys(b"x" * 32).index("tenant-a", PATIENT_CONTROL_NUMBER, "PCN-0001")
    assert KEYS.index("tenant-a", PATIENT_CONTROL_NUMBER, "  ") == ""


def test_a_sealed_value_does_not_open_under_another_key() -> None:
    with pytest.raises(InvalidTag):
        PhiKeys(b"x" * 32).unseal(KEYS.seal("PCN-1"))


def test_a_deployment_without_a_key_refuses_to_start() -> None:
    with pytest.raises(PhiKeyError):
        PhiKeys.from_env({}, dev_mode=False)
    cipher = base64.b64encode(b"c" * 32).decode()
    derived = PhiKeys.from_env({"OON_CIPHER_KEY": cipher}, dev_mode=False)
    assert derived.index("t", "pcn", "1") == PhiKeys.from_env(
        {"OON_CIPHER_KEY": cipher}, dev_mode=False).index("t", "pcn", "1")
    assert derived.index("t", "pcn", "1") != PhiKeys.from_env(
        {"OON_CIPHER_KEY": base64.b64encode(b"d" * 32).decode()}, dev_mode=False
    ).index("t", "pcn", "1")
    with pytest.raises(PhiKeyError):
        PhiKeys.from_env({"OON_PHI_KEY": base64.b64encode(b"short").decode()}, dev_mode=False)
    assert PhiKeys.from_env({}, dev_mode=True).index("t", "pcn", "1")
