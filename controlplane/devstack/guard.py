"""Runs one child of the local stack so that it never outlives its supervisor: `guard.py SUPERVISOR_PID -- CMD…`.

`ManagedProcess` starts every child through this guard (standard library only, run as a script). The guard leads
the child's own process group and:
- asks the kernel for SIGTERM when its parent dies (Linux `PR_SET_PDEATHSIG`), and also watches the parent's pid
  once a second (other systems, and a parent that died before the request took effect);
- on SIGTERM, SIGINT or SIGHUP, or when the supervisor is gone, sends SIGTERM to the command (so it shuts its
  own workers down), waits `GRACE_SECONDS`, then SIGKILLs the whole group: gunicorn workers, Celery pool
  processes, flow runs, whatever the command started.
So a supervisor killed by anything — even SIGKILL — leaves nothing behind holding its ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG = 1


def _ask_for_signal_when_parent_dies() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgrp(), signal.SIGKILL)  # the command's leftovers, and this guard last


def _watch_parent(supervisor_pid: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != supervisor_pid:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def main(argv: list[str]) -> int:
    supervisor_pid, separator, *command = argv
    if separator != "--" or not command:
        print("usage: guard.py SUPERVISOR_PID -- COMMAND [ARG …]", file=sys.stderr)
        return 2
    _ask_for_signal_when_parent_dies()
    if os.getppid() != int(supervisor_pid):  # the supervisor died before the request above took effect
        return 1
    child = subprocess.Popen(command)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        _stop_group(child)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    threading.Thread(target=_watch_parent, args=(int(supervisor_pid), stop), daemon=True).start()
    while True:
        try:
            code = child.wait()
            break
        except InterruptedError:  # pragma: no cover -- a signal handler ran; wait again
            time.sleep(0)
    stop.set()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
