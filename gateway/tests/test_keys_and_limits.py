"""Key format and hashing, token buckets (property-based), status mapping."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import keys
from gateway.ratelimit import RateLimiter, TokenBucket
from gateway.statuses import HTTP_STATUS, failure, retry_info

random_bytes = st.binary(min_size=8, max_size=8), st.binary(min_size=32, max_size=32)


@given(*random_bytes)
def test_a_token_parses_back_to_its_key_and_matches_only_its_hash(id_bytes, secret_bytes):
    issued = keys.issue(id_bytes, secret_bytes)
    parsed = keys.parse_authorization(f"Bearer {issued.token}")
    assert parsed == issued
    assert keys.secret_matches(parsed, issued.secret_hash)
    other = keys.issue(id_bytes, bytes(b ^ 1 for b in secret_bytes))
    assert not keys.secret_matches(other, issued.secret_hash)
    assert issued.secret not in issued.secret_hash.hex()


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer oon_123_abc",
    "Bearer oon_0123456789abcdef_" + "x" * 42, "Token oon_0123456789abcdef_" + "x" * 43,
])
def test_malformed_authorization_is_refused(header):
    with pytest.raises(keys.MalformedKey):
        keys.parse_authorization(header)


def test_scheme_is_case_insensitive():
    token = keys.issue(b"\x01" * 8, b"\x02" * 32).token
    assert keys.parse_authorization(f"bEaReR {token}").key_id == "01" * 8


@settings(max_examples=200)
@given(
    rate=st.floats(min_value=0.5, max_value=1000),
    burst=st.integers(min_value=1, max_value=200),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=300),
)
def test_a_bucket_never_allows_more_than_burst_plus_rate_times_elapsed(rate, burst, gaps):
    bucket = TokenBucket.full(rate, burst, now=0.0)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        if wait == 0:
            allowed += 1
        else:
            # The promised wait is enough: after it the call is allowed.
            probe = TokenBucket(bucket.rate, bucket.burst, bucket.tokens, bucket.updated)
            assert probe.take(now + wait + 1e-9) == 0
        assert allowed <= burst + rate * now + 1e-6


def test_a_spent_bucket_refuses_with_the_time_to_the_next_token():
    limiter = RateLimiter()
    assert [limiter.take("k", 2.0, 3, now=10.0) for _ in range(3)] == [0, 0, 0]
    assert limiter.take("k", 2.0, 3, now=10.0) == pytest.approx(0.5)
    assert limiter.take("k", 2.0, 3, now=10.5) == 0
    # Another key has its own bucket.
    assert limiter.take("other", 2.0, 3, now=10.5) == 0


def test_rate_limit_failures_carry_retry_info_and_map_to_429():
    refused = failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", [retry_info(1.2)])
    assert refused.http_status == 429
    assert refused.retry_after_seconds == 2
    assert refused.trailing_metadata()[0][0] == "grpc-status-details-bin"


def test_every_grpc_code_has_an_http_status():
    assert set(HTTP_STATUS) == set(grpc.StatusCode)
    assert HTTP_STATUS[grpc.StatusCode.UNAUTHENTICATED] == 401
    assert HTTP_STATUS[grpc.StatusCode.PERMISSION_DENIED] == 403


async def test_a_key_store_that_cannot_be_reached_is_unavailable_not_unknown(tmp_path):
    """PostgreSQL down (its socket gone, as the fault suite stops it): the caller is told to
    retry (UNAVAILABLE with retry information), not handed an unknown error."""
    import asyncpg

    from gateway.auth import Authenticator
    from gateway.keystore import KeyStore
    from gateway.statuses import CallFailure

    pool = await asyncpg.create_pool(f"postgresql://postgres@/db?host={tmp_path}/gone",
                                     min_size=0, max_size=1)
    try:
        authenticator = Authenticator(KeyStore(pool, "gateway"), clock=lambda: None)  # type: ignore[arg-type, return-value]
        token = keys.issue(b"\x01" * 8, b"\x02" * 32).token
        with pytest.raises(CallFailure) as refused:
            await authenticator.authenticate(f"Bearer {token}")
    finally:
        await pool.close()
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    assert "retry with the same request_id" in refused.value.message
    assert refused.value.retry_after_seconds == 1
