"""``fitlake dashboard``: the command it runs, a clear message when the port is taken, no prompt in a fresh
environment, and no Streamlit server left behind however the command is stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fitlake import cli
from fitlake.dashboard import cli as dashboard_cli

SRC = Path(dashboard_cli.__file__).resolve().parents[2]


def test_registered_as_a_fitlake_command():
    assert cli.COMMANDS["dashboard"][0] == "fitlake.dashboard.cli"


def test_streamlit_runs_on_loopback_with_the_root(tmp_path):
    cmd = dashboard_cli.streamlit_command(tmp_path, 8600)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("dashboard/app.py")
    options = dict(zip(cmd[5:-3:2], cmd[6:-3:2]))
    assert options == {"--server.address": "127.0.0.1", "--server.port": "8600", "--server.headless": "true",
                       "--server.showEmailPrompt": "false", "--browser.gatherUsageStats": "false"}
    assert cmd[-3:] == ["--", "--root", str(tmp_path)]


def test_port_in_use_is_one_sentence_not_a_traceback(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["dashboard", "--root", str(tmp_path), "--port", str(port)])
    assert code == 2
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (a zombie holds no port)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(check, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return check()


def _listening(port: int) -> bool:
    """Something accepts connections on the port (a bind test would also trip over the health checks' TIME_WAIT)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_fresh_home_starts_without_a_prompt_and_a_stop_takes_the_server_down(tmp_path, stop):
    """No --headless, a HOME without ~/.streamlit, stdin left open and never written: an e-mail prompt would hang
    here. The browser opener is a stand-in that records its URL. Then the command is stopped and the port must be
    free with no Streamlit process left (SIGKILL cannot be caught: the child's parent-death signal covers it)."""
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text(f"#!/bin/sh\necho \"$1\" >> {opened}\n")
    opener.chmod(0o755)
    port = _free_port()
    env = {**os.environ, "HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "BROWSER": str(opener), "PYTHONPATH": str(SRC)}
    env = {k: v for k, v in env.items() if not k.startswith("STREAMLIT_")}
    log = tmp_path / "dashboard.log"
    servers: list[int] = []
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fitlake.cli", "dashboard", "--root", str(tmp_path / "lake"),
                                 "--port", str(port)], env=env, stdin=subprocess.PIPE, stdout=out, stderr=out)
    try:
        assert _wait_for(lambda: _healthy(port), 45), f"server never answered:\n{log.read_text()}"
        # the opener's `echo` may not have written its line yet when the file appears: wait for the URL itself
        assert _wait_for(lambda: opened.exists() and f"127.0.0.1:{port}" in opened.read_text(), 10), (
            f"no browser was opened on the server's URL:\n{log.read_text()}")
        assert "email" not in log.read_text().lower()
        servers = _children(proc.pid)
        assert servers
        os.kill(proc.pid, stop)
        proc.wait(timeout=20)
        assert _wait_for(lambda: not any(_alive(p) for p in servers), 15), f"orphaned server: {servers}"
        assert not _listening(port)
        if stop == signal.SIGTERM:
            assert proc.returncode == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in servers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_a_root_the_dashboard_cannot_read_is_one_sentence_before_any_server(tmp_path, capsys, monkeypatch):
    """delta-rs takes a backslash for a separator (also behind a link): say so and how to fix it, start nothing."""
    monkeypatch.setattr(dashboard_cli, "run_server", lambda *a, **k: pytest.fail("a server was started"))
    hostile = tmp_path / "back\\slash" / "lakehouse"
    hostile.mkdir(parents=True)
    (tmp_path / "link").symlink_to(hostile)
    for root in (hostile, tmp_path / "link"):
        code = cli.main(["dashboard", "--root", str(root), "--port", str(_free_port())])
        err = capsys.readouterr().err
        assert code == 2 and "backslash" in err and "cp -rL" in err and "Traceback" not in err, err
