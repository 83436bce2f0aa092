"""X12 837P (005010X222) / 837I (005010X223) → neutral `Claim837` values, claim by claim.

A walk over the segments with the loop state the 837 needs (HL 20 billing provider, HL 22
subscriber, HL 23 dependent patient, 2300 claim, 2310 providers, 2320/2330 other payers, 2400
lines, 2420 line providers, 2430 line adjudication). Each claim comes back on its own: its
values, or plain findings (segment, position, rule, value) that say why it was not read; a
transaction with no claim, or a file with none, says so too. docs/x12.md says why this walk is
ours and not the x12sdk models.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from services.common.errors import InvalidArgument
from services.x12.claim_837 import Claim837, ClaimKind
from services.x12.claim_837_draft import ClaimDraft, TransactionContext
from services.x12.envelope import NotX12Error
from services.x12.findings import Finding, Source, rejection
from services.x12.segments import Segment, envelope_findings, file_segments

PROFESSIONAL_GUIDES = ("005010X222",)
INSTITUTIONAL_GUIDES = ("005010X223",)
ENVELOPE_TAGS = frozenset({"ISA", "GS", "GE", "IEA"})


@dataclass(frozen=True)
class ParsedClaim:
    """One CLM: `claim` when it was read, else `error` (whose violations are the findings'
    texts, under the claim field when one is concerned) and the `findings` themselves."""

    location: str  # "ST <control> / CLM <n> / PCN <patient control number>"
    claim: Claim837 | None = None
    error: InvalidArgument | None = None
    findings: tuple[Finding, ...] = ()
    position: int = 0  # the CLM's segment number in the file (0 above claim level)
    sources: tuple[Source, ...] = ()  # where each claim field was read


@dataclass(frozen=True)
class Read837:
    """Every claim of a file, and the file-level notes (envelope counts that do not match)."""

    claims: tuple[ParsedClaim, ...]
    notes: tuple[Finding, ...] = field(default_factory=tuple)


def read_837(text: str) -> list[ParsedClaim]:
    """Every claim of an 837 file, each either read or explained. Input that is not an X12
    interchange at all raises InvalidArgument (field "x12")."""
    return list(read_837_file(text).claims)


def read_837_file(text: str) -> Read837:
    try:
        segments = list(file_segments(text))
    except NotX12Error as exc:
        raise InvalidArgument(f"not an X12 interchange: {exc}", "x12") from exc
    out: list[ParsedClaim] = []
    stray: list[Segment] = []
    guide = ""
    transaction: list[Segment] = []
    for segment in segments:
        tag = segment.tag
        if tag == "GS":
            guide = segment.element(8)
        elif tag == "ST":
            if transaction:
                out.extend(_read_transaction(transaction, guide))
            transaction = [segment]
        elif transaction:
            transaction.append(segment)
            if tag == "SE":
                out.extend(_read_transaction(transaction, guide))
                transaction = []
        elif tag not in ENVELOPE_TAGS:
            stray.append(segment)
    if transaction:
        out.extend(_read_transaction(transaction, guide))
    if stray:
        first = stray[0]
        out.append(
            _refused(
                "file",
                Finding(
                    "file",
                    first.tag,
                    first.position,
                    "",
                    f"{len(stray)} segment(s) stand outside any ST..SE transaction set "
                    "and were not read",
                    first.fields[0],
                ),
            )
        )
    if not out:
        out.append(
            _refused(
                "file",
                Finding(
                    "file",
                    "",
                    0,
                    "",
                    "the file holds no ST..SE transaction set, so no claim was read",
                ),
            )
        )
    return Read837(_distinct_locations(out), tuple(envelope_findings(segments)))


def _distinct_locations(claims: list[ParsedClaim]) -> tuple[ParsedClaim, ...]:
    """Groups and interchanges may repeat ST control numbers and patient control numbers; a
    repeated location gets the CLM's segment number, so each claim keeps its own (its import
    request id is built from it)."""
    seen: set[str] = set()
    out = []
    for claim in claims:
        if claim.location in seen:
            old, new = claim.location, f"{claim.location} @ segment {claim.position}"
            claim = replace(
                claim,
                location=new,
                findings=tuple(
                    replace(f, location=new) if f.location == old else f for f in claim.findings
                ),
            )
        seen.add(claim.location)
        out.append(claim)
    return tuple(out)


def _refused(location: str, finding: Finding) -> ParsedClaim:
    return ParsedClaim(location, error=rejection([finding]), findings=(finding,))


def _read_transaction(segments: list[Segment], group_guide: str) -> list[ParsedClaim]:
    st = segments[0]
    where = f"ST {st.element(2)}"
    guide = st.element(3) or group_guide
    if st.element(1) != "837" or not guide.startswith(PROFESSIONAL_GUIDES + INSTITUTIONAL_GUIDES):
        return [
            _refused(
                where,
                Finding(
                    where,
                    "ST",
                    st.position,
                    "ST03",
                    "not an 837P/837I: only 837 professional (005010X222) and institutional "
                    "(005010X223) claim transactions are read here",
                    f"{st.element(1)} {guide}".strip(),
                ),
            )
        ]
    kind = (
        ClaimKind.PROFESSIONAL
        if guide.startswith(PROFESSIONAL_GUIDES)
        else (ClaimKind.INSTITUTIONAL)
    )
    context = TransactionContext(where, kind)
    claims: list[ClaimDraft] = []
    for segment in segments[1:]:
        drafted = context.feed(segment)
        if drafted is not None:
            claims.append(drafted)
    if segments[-1].tag != "SE":
        context.findings.append(
            Finding(
                where,
                "ST",
                st.position,
                "",
                "the transaction set has no SE trailer; the file may be cut short",
            )
        )
    if not claims:
        reason = "the transaction set holds no CLM claim"
        found = context.findings or [Finding(where, "ST", st.position, "", reason)]
        return [ParsedClaim(where, error=rejection(found), findings=tuple(found))]
    out = []
    for draft in claims:
        claim, findings = draft.build(context)
        findings = [*context.findings, *findings]
        blocking = [f for f in findings if f.blocking]
        if blocking:
            out.append(
                ParsedClaim(
                    draft.location,
                    error=rejection(blocking),
                    findings=tuple(findings),
                    position=draft.clm.position,
                )
            )
        else:
            out.append(
                ParsedClaim(
                    draft.location,
                    claim=claim,
                    findings=tuple(findings),
                    position=draft.clm.position,
                    sources=tuple(draft.sources.values()),
                )
            )
    return out
