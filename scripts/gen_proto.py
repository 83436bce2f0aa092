"""Generate Python code for every contract under proto/ into gen/ (import root of `oonledger`)."""

from __future__ import annotations

import pathlib
import shutil
import sys

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
GEN = ROOT / "gen"
# Every contract with its comments (source info), for the gateway's OpenAPI descriptions.
DESCRIPTOR_SET = GEN / "oonledger" / "descriptors.binpb"


def main() -> int:
    if GEN.exists():
        shutil.rmtree(GEN)
    DESCRIPTOR_SET.parent.mkdir(parents=True)
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{well_known}",
        f"--python_out={GEN}",
        f"--pyi_out={GEN}",
        f"--grpc_python_out={GEN}",
        f"--descriptor_set_out={DESCRIPTOR_SET}",
        "--include_source_info",
        "--include_imports",
        *files,
    ]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    # Make every generated directory an importable package.
    for directory in [GEN, *[p for p in GEN.rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").touch()
    (GEN / "__init__.py").unlink()
    print(f"generated {len(files)} proto files into {GEN.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
