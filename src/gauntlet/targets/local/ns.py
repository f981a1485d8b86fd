"""Linux namespace primitives through libc (Python 3.11 has no os.unshare)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to kill us when our parent exits (crash, SIGKILL, Ctrl-C)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0), "prctl")


def map_root_user(uid: int, gid: int) -> None:
    """After unshare(CLONE_NEWUSER): become root inside, mapped to the caller outside."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def new_net_namespace() -> None:
    """preexec hook for pod processes: a fresh network namespace of their own."""
    unshare(CLONE_NEWNET)
