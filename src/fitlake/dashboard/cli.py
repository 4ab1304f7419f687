"""``fitlake dashboard``: start the Streamlit app on 127.0.0.1 over a lakehouse root."""

from __future__ import annotations

import os
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


def streamlit_command(root: Path, port: int, headless: bool = True) -> list[str]:
    """The ``streamlit run`` command line; the root goes to the app after ``--``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
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
    if not settings.root.is_dir():
        print(f"fitlake dashboard: no lakehouse at {settings.root} yet; the pages will say how to build it.")
    print(f"fitlake dashboard: http://127.0.0.1:{args.port}  (lakehouse {settings.root}; Ctrl+C stops it)")
    env = {**os.environ, "FITLAKE_ROOT": str(settings.root)}
    return subprocess.call(streamlit_command(settings.root, args.port, args.headless), env=env)
