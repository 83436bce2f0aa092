"""Auditor command-line tool: through the partner gateway with an auditor API key.

    export OON_API_KEY=...   # the auditor's key: the tenant comes from it
    A="python -m services.ledger.auditor"
    $A public-key  --target GATEWAY --pin ledger-key.pem
    $A replay      --target GATEWAY --public-key ledger-key.pem --claim C [--up-to DATE|INSTANT]
    $A verify      --target GATEWAY --public-key ledger-key.pem --claim C [--wait SECONDS]
    $A export      --target GATEWAY --public-key ledger-key.pem --claim C --out bundle.json
    $A report      --target GATEWAY --public-key ledger-key.pem --claim C --out report.pdf
    $A checkpoint  --target GATEWAY --public-key ledger-key.pem --out cp.json
    $A consistency --target GATEWAY --public-key ledger-key.pem --old cp.json
    $A verify-tenant --target GATEWAY --public-key ledger-key.pem [--pinned cp.json ...]
    $A verify-bundle bundle.json --public-key ledger-key.pem [--timeline]     # offline
    $A consistency --old a.json --new b.json --proof p.json --public-key K    # offline
    $A verify-log  --database-url URL --schema S --public-key K               # operators

Without an API key, `--target` is the ledger's internal port and `--tenant` names the tenant
(operators and tests); with a key, `--tenant` is refused (the key decides). `--public-key`
(PEM or base64) pins the ledger's key: an online command refuses a ledger serving another key,
and every signature is checked against it. Binary values in files are base64 (encoding.py).
Exit status: 0 verified, 1 verification failed (or the ledger's key is not the pinned one),
2 bad input, usage or connection error, 3 pending (nothing broken, but entries appended after
the latest signed checkpoint are not proven yet; `verify --wait SECONDS` asks again).

Online commands go through the gateway with `--api-key` (or $OON_API_KEY); without one they call
the ledger directly, which accepts only calls signed with the internal signing key
(`--signing-key`, default $OON_INTERNAL_SIGNING_KEY_FILE; operators on the internal network).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import pathlib
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

import asyncpg
import grpc

from oonledger.ledger.v1 import ledger_pb2
from services.common.internal_auth import InternalSigner, private_key_from_pem, signed_channel
from services.ledger.adapters.sql_reader import LogReader
from services.ledger.auditor import client
from services.ledger.auditor.trusted_key import KeyMismatch, load_public_key, refuse_unless_pinned
from services.ledger.domain.bundle import BundleReport, load_bundle_text
from services.ledger.domain.checkpoint import SignedCheckpoint, check_consistency
from services.ledger.domain.encoding import hashes_from_json
from services.ledger.domain.log_verification import verify_stored_log
from services.ledger.domain.moments import describe, parse_moment
from services.ledger.domain.signing import key_id_of, pem_of
from services.ledger.domain.timeline import entry_marks, timeline

OK, FAILED, USAGE, PENDING = 0, 1, 2, 3
VERDICT_EXIT = {
    ledger_pb2.VERIFICATION_STATUS_VERIFIED: OK,
    ledger_pb2.VERIFICATION_STATUS_PENDING: PENDING,
    ledger_pb2.VERIFICATION_STATUS_BROKEN: FAILED,
}
STATUS_EXIT = {"VERIFIED": OK, "PENDING": PENDING, "BROKEN": FAILED}
REPORT_FORMATS = {".pdf": ledger_pb2.REPORT_FORMAT_PDF, ".html": ledger_pb2.REPORT_FORMAT_HTML,
                  ".htm": ledger_pb2.REPORT_FORMAT_HTML}


class UsageError(Exception):
    """Bad input: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _moment(text: str) -> object:
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m services.ledger.auditor", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def connection(command: argparse.ArgumentParser, required: bool = True) -> None:
        command.add_argument(
            "--target", required=required,
            help="the gateway (with an API key) or the ledger's internal host:port",
        )
        command.add_argument(
            "--api-key", default=os.environ.get("OON_API_KEY", ""),
            help="partner API key with the auditor role (default: $OON_API_KEY)",
        )
        command.add_argument(
            "--tenant", default="",
            help="only without an API key (the ledger's internal port): the tenant to read",
        )
        command.add_argument("--actor", default="auditor-cli")
        command.add_argument(
            "--public-key", help="the pinned ledger key (PEM file from `public-key --pin`, or "
            "base64): refuse a ledger serving another key",
        )
        _signing_key_option(command)

    def online(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        connection(command)
        return command

    pin = online("public-key", "fetch the ledger's public key, print its id, optionally pin it")
    pin.add_argument("--pin", type=pathlib.Path, help="write the key (PEM) to this file")
    replay = online("replay", "print a claim's history, flagging every entry that does not hold")
    replay.add_argument("--claim", required=True)
    replay.add_argument(
        "--up-to", type=_moment,
        help="a date (the end of that day, US Eastern) or an instant with offset",
    )
    verify = online("verify", "verify a claim's chain against the signed log")
    verify.add_argument("--claim", required=True)
    verify.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="while entries are pending, ask for the next checkpoint and verify again",
    )
    export = online("export", "export a claim as a bundle (refused unless it verifies)")
    export.add_argument("--claim", required=True)
    export.add_argument("--out", required=True, type=pathlib.Path)
    report = online("report", "write the claim's audit report (PDF or HTML by --out's suffix)")
    report.add_argument("--claim", required=True)
    report.add_argument("--out", required=True, type=pathlib.Path)
    report.add_argument("--as-of", type=_moment, help="state as of a date or instant")
    checkpoint = online("checkpoint", "save the latest signed checkpoint")
    checkpoint.add_argument("--out", required=True, type=pathlib.Path)
    tenant = online("verify-tenant", "verify every entry of the caller's tenant")
    tenant.add_argument(
        "--pinned", action="append", type=pathlib.Path, default=[],
        help="a checkpoint saved earlier (repeatable): the log must extend it",
    )
    tenant.add_argument("--save", type=pathlib.Path, help="save the verified checkpoint here")

    offline = commands.add_parser("verify-bundle", help="verify an exported bundle offline")
    offline.add_argument("bundle", type=pathlib.Path)
    offline.add_argument("--public-key", help="trusted ledger key (PEM file or base64)")
    offline.add_argument("--timeline", action="store_true", help="also print the timeline")

    whole = commands.add_parser("verify-log", help="verify the whole stored log (read-only)")
    whole.add_argument("--database-url", required=True)
    whole.add_argument("--schema", required=True, help="the ledger schema, e.g. ledger")
    whole.add_argument("--public-key", required=True)

    consistency = commands.add_parser(
        "consistency", help="check that a newer checkpoint extends an older one"
    )
    connection(consistency, required=False)
    consistency.add_argument("--old", required=True, type=pathlib.Path)
    consistency.add_argument("--new", type=pathlib.Path, help="newer checkpoint file (offline)")
    consistency.add_argument(
        "--proof", type=pathlib.Path, help="proof file: JSON list of base64 hashes (offline)"
    )
    return parser


def _signing_key_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--signing-key", default=os.environ.get("OON_INTERNAL_SIGNING_KEY_FILE", ""),
        help="without --api-key, the ledger is called directly, signed with this internal "
             "signing key (PEM; operators only; default: $OON_INTERNAL_SIGNING_KEY_FILE)",
    )


def _channel(args: argparse.Namespace) -> grpc.aio.Channel:
    """Through the gateway with an API key; straight to the ledger, signed as the gateway would
    sign, with the internal key (the ledger refuses an unsigned call: UNAUTHENTICATED)."""
    if getattr(args, "api_key", "") or not args.signing_key:
        return grpc.aio.insecure_channel(args.target)
    key = private_key_from_pem(pathlib.Path(args.signing_key).read_text(encoding="ascii"))
    return signed_channel(args.target, "ledger", InternalSigner(key))


async def run(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Run one command; every failure is one line on `out` and an exit status, never a
    traceback."""
    try:
        args = _parser().parse_args(argv)
        return await _dispatch(args, out)
    except SystemExit as exc:  # --help
        return USAGE if exc.code else OK
    except KeyMismatch as exc:
        print(f"REFUSED: {exc}", file=out)
        return FAILED
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.DATA_LOSS:
            # The ledger refuses to vouch (its checkpointer found the log altered or rolled
            # back behind the witness): nothing is verified, a failed verification.
            print(f"NOT VERIFIED: {exc.details()}", file=out)
            return FAILED
        print(f"error: {exc.code().name}: {exc.details()}", file=out)
        return USAGE
    except (UsageError, OSError, ValueError, asyncpg.PostgresError) as exc:
        print(f"error: {exc}", file=out)
        return USAGE
    except Exception as exc:  # still one line and a failing exit, never a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=out)
        return USAGE


async def _dispatch(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "verify-bundle":
        return _verify_bundle(args, out)
    if args.command == "verify-log":
        return await _verify_log(args, out)
    if args.command == "consistency" and args.target is None:
        return _consistency_offline(args, out)
    caller = _caller(args)
    pinned = load_public_key(args.public_key) if args.public_key else None
    async with _channel(args) as channel:
        if args.command == "public-key":
            return await _public_key(channel, caller, args, pinned, out)
        served = await client.public_key(channel, caller)
        refuse_unless_pinned(served, pinned)
        trusted = pinned or served
        handler = {
            "replay": _replay,
            "verify": _verify,
            "export": _export,
            "report": _report,
            "checkpoint": _checkpoint,
            "consistency": _consistency_online,
            "verify-tenant": _verify_tenant,
        }[args.command]
        return await handler(channel, caller, args, trusted, out)


def _caller(args: argparse.Namespace) -> client.Caller:
    if args.api_key and args.tenant:
        raise UsageError(
            "--tenant is not taken with an API key: the key decides the tenant (drop --tenant)"
        )
    if not args.api_key and not args.tenant:
        raise UsageError(
            "give an API key (--api-key or $OON_API_KEY) for the gateway, or --tenant for the "
            "ledger's internal port"
        )
    return client.Caller(args.tenant, args.actor, api_key=args.api_key)


async def _public_key(
    channel: grpc.aio.Channel,
    caller: client.Caller,
    args: argparse.Namespace,
    pinned: bytes | None,
    out: TextIO,
) -> int:
    info = await client.public_key_info(channel, caller)
    key = bytes(info.public_key)
    print(
        f"ledger {info.origin}: Ed25519 public key id {key_id_of(key)} "
        f"(fingerprint SHA-256 {hashlib.sha256(key).hexdigest()})",
        file=out,
    )
    print(pem_of(key), end="", file=out)
    refuse_unless_pinned(key, pinned)
    if args.pin is not None:
        if args.pin.exists() and args.pin.read_text().strip():
            refuse_unless_pinned(key, load_public_key(str(args.pin)))
            print(f"{args.pin} already pins this key", file=out)
        else:
            args.pin.write_text(pem_of(key), encoding="ascii")
            print(f"pinned to {args.pin}", file=out)
    return OK


async def _replay(channel: grpc.aio.Channel, caller: client.Caller,
                  args: argparse.Namespace, trusted: bytes, out: TextIO) -> int:
    status, lines = await client.replay_marked(channel, caller, args.claim, args.up_to)
    if args.up_to is not None:
        print(f"up to {describe(args.up_to)}", file=out)
    for line in lines:
        print(line, file=out)
    return FAILED if status == ledger_pb2.VERIFICATION_STATUS_BROKEN else OK


async def _verify(channel: grpc.aio.Channel, caller: client.Caller,
                  args: argparse.Namespace, trusted: bytes, out: TextIO) -> int:
    status, lines = await client.verify_claim(channel, caller, args.claim, args.wait, trusted)
    for line in lines:
        print(line, file=out)
    return VERDICT_EXIT.get(status, FAILED)


async def _export(channel: grpc.aio.Channel, caller: client.Caller,
                  args: argparse.Namespace, trusted: bytes, out: TextIO) -> int:
    """The bundle is verified before it is written: a bundle that does not verify, or a claim
    the ledger finds broken, is refused and no file is written."""
    document = await client.export_bundle(channel, caller, args.claim)
    report = load_bundle_text(document, trusted)
    status = await client.verification_status(channel, caller, args.claim)
    if not report.ok or status == ledger_pb2.VERIFICATION_STATUS_BROKEN:
        print(f"REFUSED: the bundle of claim {args.claim} does not verify; nothing written to "
              f"{args.out}", file=out)
        for finding in report.findings():
            print(f"  {finding}", file=out)
        if report.ok:
            print("  the ledger's verification of the claim is BROKEN (run verify for details)",
                  file=out)
        return FAILED
    args.out.write_bytes(document)
    bundle = report.bundle
    assert bundle is not None  # report.ok
    print(f"bundle written to {args.out}: {len(bundle.entries)} entries, verified against "
          f"key {key_id_of(trusted)}", file=out)
    return OK


async def _report(channel: grpc.aio.Channel, caller: client.Caller,
                  args: argparse.Namespace, trusted: bytes, out: TextIO) -> int:
    fmt = REPORT_FORMATS.get(args.out.suffix.lower())
    if fmt is None:
        raise UsageError(f"--out must end in .pdf or .html, not {args.out.name!r}")
    reply = await client.claim_report(channel, caller, args.claim, fmt, args.as_of)
    args.out.write_bytes(reply.content)
    verdict = client.STATUS_NAMES.get(reply.status, "BROKEN")
    print(f"report of claim {args.claim} written to {args.out} ({len(reply.content)} bytes); "
          f"verification {verdict}", file=out)
    return OK


async def _checkpoint(channel: grpc.aio.Channel, caller: client.Caller,
                      args: argparse.Namespace, trusted: bytes, out: TextIO) -> int:
    signed = await client.latest_checkpoint(channel, caller)
    if error := signed.check(trusted):
        print(f"REFUSED: the latest checkpoint: {error}; nothing written", file=out)
        return FAILED
    args.out.write_text(json.dumps(signed.to_json(), indent=1), encoding="utf-8")
    print(f"checkpoint of size {signed.checkpoint.tree_size} (key {signed.signature.key_id}) "
          f"written to {args.out}", file=out)
    return OK


async def _verify_tenant(channel: grpc.aio.Channel, caller: client.Caller,
                         args: argparse.Namespace, trusted: bytes, out: TextIO) -> int:
    pinned = [_read_checkpoint(path) for path in args.pinned]
    verifier = await client.verify_tenant(channel, caller, trusted, pinned)
    cp = verifier.checkpoint.checkpoint
    status = verifier.status.name
    print(
        f"tenant {verifier.tenant_id}: {status} — {verifier.chains} chains, {verifier.entries} "
        f"entries, {verifier.anchored} proven in the checkpoint of size {cp.tree_size} (key "
        f"{verifier.checkpoint.signature.key_id}), {verifier.pending} pending; consistent with "
        f"{len(verifier.consistent_with)} of {len(pinned)} pinned checkpoints",
        file=out,
    )
    for finding in verifier.findings():
        print(f"  {finding}", file=out)
    if args.save is not None and status != "BROKEN":
        args.save.write_text(json.dumps(verifier.checkpoint.to_json(), indent=1),
                             encoding="utf-8")
        print(f"checkpoint of size {cp.tree_size} saved to {args.save} (pin it)", file=out)
    return STATUS_EXIT[status]


def _verify_bundle(args: argparse.Namespace, out: TextIO) -> int:
    key = load_public_key(args.public_key) if args.public_key else None
    data = args.bundle.read_bytes()
    if not data.strip():
        raise ValueError(f"{args.bundle} is empty")
    report = load_bundle_text(data, key)
    bundle = report.bundle
    if bundle is not None and args.timeline:
        for line in timeline(bundle.entries, _bundle_marks(report)):
            print(line, file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    if report.ok and bundle is not None:
        c = bundle.checkpoint
        print(
            f"bundle VERIFIED: claim {bundle.claim_id} (tenant {bundle.tenant_id}), "
            f"{len(bundle.entries)} entries, every one proven in the checkpoint of size "
            f"{c.checkpoint.tree_size} signed by key {c.signature.key_id}",
            file=out,
        )
        return OK
    print("bundle FAILED verification:", file=out)
    for finding in report.findings():
        print(f"  {finding}", file=out)
    return FAILED


def _bundle_marks(report: BundleReport) -> dict[int, str]:
    if report.bundle is None or report.verdict is None:
        return {}
    breaks = [(b.log_index, b.kind.value) for b in report.verdict.chain.breaks]
    size = report.bundle.checkpoint.checkpoint.tree_size
    return entry_marks(report.bundle.entries, breaks, size)


async def _verify_log(args: argparse.Namespace, out: TextIO) -> int:
    key = load_public_key(args.public_key)
    pool = await asyncpg.create_pool(
        args.database_url,
        min_size=1,
        max_size=1,
        server_settings={"search_path": args.schema, "default_transaction_read_only": "on"},
    )
    try:
        verifier = await verify_stored_log(LogReader(pool), key)
    finally:
        await pool.close()
    if verifier.ok:
        print(
            f"log VERIFIED: {verifier.frontier.size} entries, "
            f"{verifier.checkpoints_verified} signed checkpoints matched",
            file=out,
        )
        return OK
    print("log FAILED verification:", file=out)
    for problem in verifier.problems:
        print(f"  {problem}", file=out)
    return FAILED


def _read_json(path: pathlib.Path) -> object:
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"{path} is empty")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON ({exc})") from None


def _read_checkpoint(path: pathlib.Path) -> SignedCheckpoint:
    try:
        return SignedCheckpoint.from_json(_read_json(path))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _report_consistency(
    old: SignedCheckpoint, new: SignedCheckpoint, proof: list[bytes], key: bytes | None,
    out: TextIO,
) -> int:
    problems = check_consistency(old, new, proof, key)
    if problems:
        print("checkpoints are NOT consistent:", file=out)
        for problem in problems:
            print(f"  {problem}", file=out)
        return FAILED
    print(
        f"consistent: the log of size {new.checkpoint.tree_size} extends the log of size "
        f"{old.checkpoint.tree_size} (proof of {len(proof)} hashes)",
        file=out,
    )
    return OK


def _consistency_offline(args: argparse.Namespace, out: TextIO) -> int:
    if args.new is None or args.proof is None:
        raise UsageError("give --new and --proof (offline), or --target")
    proof = hashes_from_json(_read_json(args.proof), str(args.proof))
    key = load_public_key(args.public_key) if args.public_key else None
    return _report_consistency(
        _read_checkpoint(args.old), _read_checkpoint(args.new), proof, key, out
    )


async def _consistency_online(channel: grpc.aio.Channel, caller: client.Caller,
                              args: argparse.Namespace, trusted: bytes, out: TextIO) -> int:
    old = _read_checkpoint(args.old)
    latest = await client.latest_checkpoint(channel, caller)
    if old.checkpoint.tree_size >= latest.checkpoint.tree_size:
        return _report_consistency(old, latest, [], trusted, out)
    proof, new = await client.consistency_proof(channel, caller, old.checkpoint.tree_size)
    return _report_consistency(old, new, proof, trusted, out)


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
