"""``fitlake dashboard``: the command it runs, and a clear message when the port is taken."""

from __future__ import annotations

import socket

from fitlake import cli
from fitlake.dashboard import cli as dashboard_cli


def test_registered_as_a_fitlake_command():
    assert cli.COMMANDS["dashboard"][0] == "fitlake.dashboard.cli"


def test_streamlit_runs_on_loopback_with_the_root(tmp_path):
    cmd = dashboard_cli.streamlit_command(tmp_path, 8600)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("dashboard/app.py")
    options = dict(zip(cmd[5:-3:2], cmd[6:-3:2]))
    assert options == {"--server.address": "127.0.0.1", "--server.port": "8600", "--server.headless": "true",
                       "--browser.gatherUsageStats": "false"}
    assert cmd[-3:] == ["--", "--root", str(tmp_path)]


def test_port_in_use_is_one_sentence_not_a_traceback(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["dashboard", "--root", str(tmp_path), "--port", str(port)])
    assert code == 2
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err
