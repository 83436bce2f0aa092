"""Auditor command-line tool: replay, verify, export, offline bundle and checkpoint checks.

    python -m services.ledger.auditor_cli replay --target HOST:PORT --tenant T --claim C
    python -m services.ledger.auditor_cli verify --target HOST:PORT --tenant T --claim C
    python -m services.ledger.auditor_cli export --target ... --claim C --out bundle.json
    python -m services.ledger.auditor_cli verify-bundle bundle.json --public-key key.pem
    python -m services.ledger.auditor_cli checkpoint --target ... --out cp.json
    python -m services.ledger.auditor_cli consistency --old cp.json --target ...
    python -m services.ledger.auditor_cli consistency --old a.json --new b.json --proof p.json

    python -m services.ledger.auditor_cli verify-log --database-url URL --schema S --public-key K

Online commands go through the gateway with `--api-key` (or $OON_API_KEY); without one they call
the ledger directly, which accepts only calls signed with the internal signing key
(`--signing-key`, default $OON_INTERNAL_SIGNING_KEY_FILE; operators on the internal network).

`verify-bundle` and the file form of `consistency` need no database and no network;
`verify-log` (operators) reads the whole log from PostgreSQL and checks every signed checkpoint.
Exit status: 0 verified, 1 verification failed, 2 usage or connection error, 3 pending (nothing
broken, but entries appended after the latest signed checkpoint are not proven yet; `verify
--wait SECONDS` asks again until they are).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import pathlib
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

import asyncpg
import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from oonledger.ledger.v1 import ledger_pb2
from services.common.internal_auth import InternalSigner, private_key_from_pem, signed_channel
from services.ledger import auditor_client as client
from services.ledger.bundle_verifier import load_bundle_text
from services.ledger.checkpoint import SignedCheckpoint
from services.ledger.log_audit import verify_stored_log
from services.ledger.reader import LogReader
from services.ledger.timeline import timeline

OK, FAILED, USAGE, PENDING = 0, 1, 2, 3


def load_public_key(text: str) -> bytes:
    """A PEM file path, or base64/hex of the raw 32-byte Ed25519 public key."""
    path = pathlib.Path(text)
    if path.is_file():
        data = path.read_bytes()
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 public key")
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        text = data.decode().strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return raw


VERDICT_EXIT = {
    ledger_pb2.VERIFICATION_STATUS_VERIFIED: OK,
    ledger_pb2.VERIFICATION_STATUS_PENDING: PENDING,
    ledger_pb2.VERIFICATION_STATUS_BROKEN: FAILED,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auditor_cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def online(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--target", required=True, help="the gateway (with --api-key) or the ledger host:port"
        )
        command.add_argument("--tenant", required=True)
        command.add_argument("--actor", default="auditor-cli")
        command.add_argument(
            "--api-key", default=os.environ.get("OON_API_KEY", ""),
            help="partner API key with the auditor role (default: $OON_API_KEY)",
        )
        _signing_key_option(command)
        return command

    replay = online("replay", "print a claim's history as a timeline")
    replay.add_argument("--claim", required=True)
    replay.add_argument(
        "--up-to",
        type=datetime.fromisoformat,
        help="ISO-8601 instant with offset, e.g. 2026-11-02T15:00:00+00:00",
    )
    verify = online("verify", "verify a claim's chain against the signed log")
    verify.add_argument("--claim", required=True)
    verify.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="while entries are pending, ask for the next checkpoint and verify again",
    )
    export = online("export", "export a claim as a self-contained bundle")
    export.add_argument("--claim", required=True)
    export.add_argument("--out", required=True, type=pathlib.Path)
    checkpoint = online("checkpoint", "save the latest signed checkpoint")
    checkpoint.add_argument("--out", required=True, type=pathlib.Path)

    offline = commands.add_parser("verify-bundle", help="verify an exported bundle offline")
    offline.add_argument("bundle", type=pathlib.Path)
    offline.add_argument("--public-key", help="trusted ledger key (PEM file, base64 or hex)")
    offline.add_argument("--timeline", action="store_true", help="also print the timeline")

    whole = commands.add_parser("verify-log", help="verify the whole stored log (read-only)")
    whole.add_argument("--database-url", required=True)
    whole.add_argument("--schema", required=True, help="the ledger schema, e.g. ledger")
    whole.add_argument("--public-key", required=True)

    consistency = commands.add_parser(
        "consistency", help="check that a newer checkpoint extends an older one"
    )
    consistency.add_argument("--old", required=True, type=pathlib.Path)
    consistency.add_argument("--new", type=pathlib.Path, help="newer checkpoint file (offline)")
    consistency.add_argument("--proof", type=pathlib.Path, help="proof file: JSON list of hex")
    consistency.add_argument("--target", help="fetch the newest checkpoint and proof online")
    consistency.add_argument("--tenant", default="")
    consistency.add_argument("--public-key")
    _signing_key_option(consistency)
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
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return USAGE if exc.code else OK
    try:
        return await _dispatch(args, out)
    except grpc.aio.AioRpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=out)
        return USAGE
    except (OSError, ValueError, asyncpg.PostgresError) as exc:
        print(f"error: {exc}", file=out)
        return USAGE


async def _dispatch(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "verify-bundle":
        return _verify_bundle(args, out)
    if args.command == "verify-log":
        return await _verify_log(args, out)
    if args.command == "consistency" and args.target is None:
        return _consistency_offline(args, out)
    async with _channel(args) as channel:
        if args.command == "consistency":
            return await _consistency_online(channel, args, out)
        caller = client.Caller(args.tenant, args.actor, api_key=args.api_key)
        if args.command == "replay":
            for line in await client.replay_timeline(channel, caller, args.claim, args.up_to):
                print(line, file=out)
            return OK
        if args.command == "verify":
            status, lines = await client.verify_claim(channel, caller, args.claim, args.wait)
            for line in lines:
                print(line, file=out)
            return VERDICT_EXIT.get(status, FAILED)
        if args.command == "export":
            args.out.write_bytes(await client.export_bundle(channel, caller, args.claim))
            print(f"bundle written to {args.out}", file=out)
            return OK
        signed = await client.latest_checkpoint(channel, caller)
        args.out.write_text(json.dumps(signed.to_json(), indent=1), encoding="utf-8")
        print(f"checkpoint of size {signed.checkpoint.tree_size} written to {args.out}", file=out)
        return OK


def _verify_bundle(args: argparse.Namespace, out: TextIO) -> int:
    key = load_public_key(args.public_key) if args.public_key else None
    report = load_bundle_text(args.bundle.read_bytes(), key)
    bundle = report.bundle
    if bundle is not None and args.timeline:
        for line in timeline(bundle.entries):
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


def _read_checkpoint(path: pathlib.Path) -> SignedCheckpoint:
    return SignedCheckpoint.from_json(json.loads(path.read_text(encoding="utf-8")))


def _report_consistency(
    old: SignedCheckpoint, new: SignedCheckpoint, proof: list[bytes], key: bytes | None, out: TextIO
) -> int:
    problems = client.check_consistency(old, new, proof, key)
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
        print("error: give --new and --proof, or --target", file=out)
        return USAGE
    proof = [bytes.fromhex(h) for h in json.loads(args.proof.read_text(encoding="utf-8"))]
    key = load_public_key(args.public_key) if args.public_key else None
    return _report_consistency(
        _read_checkpoint(args.old), _read_checkpoint(args.new), proof, key, out
    )


async def _consistency_online(
    channel: grpc.aio.Channel, args: argparse.Namespace, out: TextIO
) -> int:
    old = _read_checkpoint(args.old)
    caller = client.Caller(args.tenant or "-", "auditor-cli")
    proof, new = await client.consistency_proof(channel, caller, old.checkpoint.tree_size)
    key = load_public_key(args.public_key) if args.public_key else None
    return _report_consistency(old, new, proof, key, out)


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
