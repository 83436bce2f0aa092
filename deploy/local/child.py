"""`python -m deploy.local.child -m <module> [args]`: a service as the launcher's child.

The child asks the kernel for SIGTERM when the launcher dies (Linux `PR_SET_PDEATHSIG`), so no
service outlives `make run`, then runs the module as `python -m` would. This is done here, in a
fresh interpreter, rather than in a `preexec_fn` between fork and exec: the launcher has gRPC
threads, and running Python in a forked copy of a threaded process can crash the child before
it starts (seen as "Fatal Python error: Segmentation fault" in the logs of earlier runs).
"""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import sys


def ask_for_sigterm_when_the_parent_dies(parent: int) -> None:
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the launcher died before the request took effect
        sys.exit(0)


def main() -> None:
    parent = int(os.environ.pop("OON_LAUNCHER_PID", str(os.getppid())))
    ask_for_sigterm_when_the_parent_dies(parent)
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        sys.exit("usage: python -m deploy.local.child -m <module> [args]")
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
