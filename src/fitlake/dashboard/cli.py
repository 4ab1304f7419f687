"""``fitlake dashboard``: start the Streamlit app on 127.0.0.1 over a lakehouse root.

Never prompts (Streamlit's first-run e-mail question would stall a script or a service forever) and never outlives
its command: SIGTERM, SIGINT and SIGHUP stop the server before ``fitlake dashboard`` exits, and on Linux the server
also gets SIGTERM when its parent dies by SIGKILL, so no orphan keeps the port.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from fitlake.config import ConfigError, load_settings

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501


def add_arguments(parser) -> None:
    parser.add_argument("--root", default=None, help="lakehouse root (default: $FITLAKE_ROOT or ./lakehouse)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--headless", action="store_true", help="do not open a browser window")


# Streamlit settings that keep a fresh environment (no ~/.streamlit) from asking anything.
QUIET_ENV = {"STREAMLIT_SERVER_SHOW_EMAIL_PROMPT": "false", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_GRACE_S = 10.0


def streamlit_command(root: Path, port: int, headless: bool = True) -> list[str]:
    """The ``streamlit run`` command line; the root goes to the app after ``--``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--server.showEmailPrompt", "false",
        "--browser.gatherUsageStats", "false",
        "--", "--root", str(root),
    ]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main(args) -> int:
    settings = load_settings(target="local", root=args.root)
    if not port_is_free(args.port):
        raise ConfigError(f"port {args.port} on 127.0.0.1 is in use: pick another with --port.")
    from fitlake.dashboard.data import unreadable_root  # pandas and pyarrow: only for this command

    problem = unreadable_root(settings)
    if problem is not None:
        raise ConfigError(problem)
    if not settings.root.is_dir():
        print(f"fitlake dashboard: no lakehouse at {settings.root} yet; the pages will say how to build it.")
    print(f"fitlake dashboard: http://127.0.0.1:{args.port}  (lakehouse {settings.root}; Ctrl+C stops it)")
    env = {**os.environ, **QUIET_ENV, "FITLAKE_ROOT": str(settings.root)}
    return run_server(streamlit_command(settings.root, args.port, args.headless), env)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


class _Stopped(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def stop_server(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; returns once the process is gone."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_server(cmd: list[str], env: dict[str, str], name: str = "fitlake dashboard") -> int:
    """Run ``cmd`` until it exits or this process is asked to stop; either way the child is gone on return.
    A stop by signal returns 128 + its number, as a shell would report it."""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def stop(signum, _frame):
        raise _Stopped(signum)

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        return proc.wait()
    except _Stopped as e:
        print(f"{name}: stopping the server (signal {e.signum})", file=sys.stderr, flush=True)
        return 128 + e.signum
    finally:
        for s in STOP_SIGNALS:  # a second signal during the stop must not interrupt it
            signal.signal(s, signal.SIG_IGN)
        try:
            stop_server(proc)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
