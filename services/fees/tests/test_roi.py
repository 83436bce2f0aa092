"""ROI figures: totals, groups, uplift, initial payments counted once per claim."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.fees.domain.roi import RoiEntry, roi_report


def test_report_totals_and_groups() -> None:
    entries = [
        RoiEntry("c1", "aetna", "99285", 40_000, 60_000, 15_000),
        RoiEntry("c1", "aetna", "99285", 40_000, -10_000, -2_500),
        RoiEntry("c2", "cigna", "99285", 10_000, 30_000, 7_500, pass_through_delta_cents=1_500),
    ]
    report = roi_report(entries)
    total = report.total
    assert (total.claims, total.initial_payments_cents, total.recovered_cents,
            total.fees_cents, total.pass_through_cents) == (2, 50_000, 80_000, 20_000, 1_500)
    assert total.net_to_client_cents == 58_500
    assert total.uplift_bps == 16_000  # recovered 160% over the initial payments
    assert list(report.by_payer) == ["aetna", "cigna"]
    assert report.by_payer["aetna"].recovered_cents == 50_000
    assert report.by_service_code["99285"].claims == 2


def test_no_initial_payment_means_no_uplift_ratio() -> None:
    assert roi_report([RoiEntry("c1", "", "", 0, 5_000, 1_000)]).total.uplift_bps == 0


@given(st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(["p1", "p2"]),
                          st.integers(-10**6, 10**7), st.integers(-10**5, 10**6)), max_size=30))
def test_groups_add_up_to_the_total(rows: list) -> None:
    initial = {"c1": 100, "c2": 2_000, "c3": 0}
    entries = [RoiEntry(claim, payer, f"svc-{claim}", initial[claim], recovered, fee)
               for claim, payer, recovered, fee in rows]
    report = roi_report(entries)
    for groups in (report.by_payer, report.by_service_code):
        assert sum(g.recovered_cents for g in groups.values()) == report.total.recovered_cents
        assert sum(g.fees_cents for g in groups.values()) == report.total.fees_cents
    assert sum(g.initial_payments_cents for g in report.by_service_code.values()) == (
        report.total.initial_payments_cents)


def test_interest_is_shown_beside_recovered_not_in_it() -> None:
    total = roi_report([
        RoiEntry("c1", "aetna", "99285", 40_000, 60_000, 15_000),
        RoiEntry("c1", "aetna", "99285", 40_000, 0, 0, interest_delta_cents=1_250),
    ]).total
    assert (total.recovered_cents, total.interest_cents, total.recovered_with_interest_cents,
            total.net_to_client_cents) == (60_000, 1_250, 61_250, 45_000)
