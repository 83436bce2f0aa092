"""The ledger's domain: pure values and rules, no I/O (docs/ledger.md, "Rooms").

merkle.py              the RFC 9162 Merkle tree: leaf/node hashes, frontier, proofs
entry.py               an audit entry, its canonical bytes and chain hash, chain names
entry_codec.py         an entry as bundle JSON
encoding.py            the one text encoding of bytes in files (padded base64)
signing.py             Ed25519 signer, key ids, PEM
checkpoint.py          signed checkpoints and chain heads; does a checkpoint extend a pinned one
appending.py           where the next entry goes; the appender's guard against forged rows
chain_verification.py  one chain recomputed and anchored in the signed log (verdicts, breaks)
log_verification.py    the whole stored log verified in one pass
tenant_verification.py a tenant replay verified by the auditor
bundle.py              the exported claim bundle and its offline verification
claim_state.py         the as-of fold of a claim's events
timeline.py            one line per event for people
moments.py             dates and instants an auditor types
report.py              the printable audit report's model
"""

from services.ledger.domain.bundle import Bundle, BundleReport, load_bundle_text, verify_bundle
from services.ledger.domain.chain_verification import (
    AnchoredVerdict,
    BreakKind,
    ChainBreak,
    ChainVerdict,
    Status,
    leaf_of,
    verify_anchored,
    verify_chain,
)
from services.ledger.domain.checkpoint import (
    ChainHead,
    Checkpoint,
    Signature,
    SignedChainHead,
    SignedCheckpoint,
    check_consistency,
)
from services.ledger.domain.claim_state import ClaimState, fold_claim
from services.ledger.domain.entry import AuditEntry, EventFacts, claim_chain
from services.ledger.domain.signing import Signer, key_id_of, pem_of

__all__ = [
    "AnchoredVerdict",
    "AuditEntry",
    "BreakKind",
    "Bundle",
    "BundleReport",
    "ChainBreak",
    "ChainHead",
    "ChainVerdict",
    "Checkpoint",
    "ClaimState",
    "EventFacts",
    "Signature",
    "SignedChainHead",
    "SignedCheckpoint",
    "Signer",
    "Status",
    "check_consistency",
    "claim_chain",
    "fold_claim",
    "key_id_of",
    "leaf_of",
    "load_bundle_text",
    "pem_of",
    "verify_anchored",
    "verify_bundle",
    "verify_chain",
]
