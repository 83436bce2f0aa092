"""Line-level IDR disputes, proto <-> domain (domain/dispute_lines.py); mapping.py calls these."""

from __future__ import annotations

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.negotiation.domain import FederalIdrDispute
from services.negotiation.domain.dispute_lines import DisputedLine, LineOffer
from services.negotiation.domain.vocabulary import Party


def disputed_lines(request: pb.InitiateIdrRequest) -> tuple[tuple[str, DisputedLine], ...]:
    return tuple(
        (line.negotiation_id, DisputedLine(line.line_number, line.qpa_cents,
                                           line.patient_cost_sharing_cents,
                                           line.already_paid_cents))
        for line in request.lines
    )


def line_offers(request: pb.SubmitIdrOfferRequest) -> tuple[LineOffer, ...]:
    return tuple(LineOffer(o.line_number, o.amount_cents) for o in request.line_offers)


def case_lines(dispute: FederalIdrDispute) -> list[pb.IdrCaseLine]:
    offers = {party: {o.line_number: o.amount_cents for o in made}
              for party, made in dispute.line_offers.items()}
    awards = {a.line_number: a for a in dispute.line_awards}
    shown = []
    for line in dispute.lines:
        award = awards.get(line.line_number)
        shown.append(pb.IdrCaseLine(
            line_number=line.line_number,
            qpa_cents=line.qpa_cents,
            patient_cost_sharing_cents=line.patient_cost_sharing_cents,
            already_paid_cents=line.already_paid_cents,
            provider_offer_cents=offers.get(Party.PROVIDER.value, {}).get(line.line_number, 0),
            payer_offer_cents=offers.get(Party.PAYER.value, {}).get(line.line_number, 0),
            prevailing_party=award.prevailing_party if award else "",
            award_cents=award.award_cents if award else 0,
            amount_owed_cents=award.amount_owed_cents if award else 0,
        ))
    return shown
