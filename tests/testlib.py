"""Helpers the Python tests share (integration and privileged)."""
import os
import socket
import subprocess
import sys
import time


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def free_port():
    """A port on 127.0.0.1 nobody listens on (now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(what, fn, seconds=60, every=0.2):
    """fn() until it returns something true (errors count as not yet); fails
    the test after `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(every)
    fail("timed out waiting for " + what)


def private_bpffs():
    """Re-executes this script in a private mount namespace and mounts a bpffs
    of its own there: a machine where bpffs was never mounted, and nothing of
    the host's is touched. Returns in the re-executed process."""
    if not os.environ.get("BPFEX_TEST_PRIVATE_NS"):
        os.environ["BPFEX_TEST_PRIVATE_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable] + sys.argv)
    subprocess.check_call(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"])
