"""The README's deploy section is the whole deploy (issue #18 Build 5): the exact commands for a new workspace, with
no Terraform and nothing by hand, and each command is one the real CLI takes (its subcommand and every flag)."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import yaml
from conftest import REPO, cli_env

SECTION = "## Deploy to Databricks"
FENCE = re.compile(r"```bash\n(.*?)```", re.S)


def deploy_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else None]


def commands() -> list[list[str]]:
    blocks = FENCE.findall(deploy_section())
    assert len(blocks) == 1, "the deploy section has one command block"
    lines = [ln.split(" #", 1)[0].strip() for ln in blocks[0].splitlines()]
    return [shlex.split(ln.replace("<", "_").replace(">", "_")) for ln in lines if ln]


def required_variables() -> set[str]:
    variables = yaml.safe_load((REPO / "databricks.yml").read_text())["variables"]
    return {name for name, spec in variables.items() if "default" not in (spec or {})}


def test_the_deploy_section_needs_no_terraform_and_no_hand_step():
    section = deploy_section()
    mentions = re.findall(r"(\w+)\W+terraform", section.lower())  # the old text: "deploy needs Terraform"
    assert mentions == ["no"] * len(mentions), mentions
    words = [c[:3] for c in commands() if c[0] == "databricks"]
    for step in (["databricks", "auth", "login"], ["databricks", "bundle", "deploy"], ["databricks", "bundle", "run"]):
        assert step in words, f"the deploy section has no `{' '.join(step)}`"
    dev = [c for c in commands() if c[:2] == ["databricks", "bundle"]]
    assert [c[2] for c in dev] == ["validate", "deploy", "run", "deploy"]
    assert [c[c.index("-t") + 1] for c in dev] == ["dev", "dev", "dev", "prod"]  # validate before deploy, prod last
    jobs = {p.name.split(".")[0] for p in (REPO / "resources").glob("*.job.yml")}
    assert dev[2][3] in jobs


def test_every_required_variable_is_given_before_the_first_bundle_command():
    given: set[str] = set()
    for command in commands():
        if command[0] == "export":
            given |= {a.split("=", 1)[0].removeprefix("BUNDLE_VAR_") for a in command[1:] if a.startswith("BUNDLE_VAR_")}
        if command[:2] == ["databricks", "bundle"]:
            flags = {command[i + 1].split("=", 1)[0] for i, a in enumerate(command) if a == "--var"}
            missing = required_variables() - given - flags
            assert not missing, f"`{' '.join(command)}` runs without {sorted(missing)} (no default in databricks.yml)"


def test_files_go_to_the_landing_volume_of_the_dev_schema():
    """The upload target is the Volume the dev deploy creates: /Volumes/<catalog>/dev_<user>_<schema>/landing/<source>."""
    from fitlake.bronze.sources import SOURCES

    config = yaml.safe_load((REPO / "databricks.yml").read_text())
    uc = yaml.safe_load((REPO / "resources" / "fitlake.uc.yml").read_text())["resources"]
    schema = config["variables"]["schema"]["default"]
    copies = [c for c in commands() if c[:3] == ["databricks", "fs", "cp"]]
    assert copies, "the deploy section uploads no landing files"
    roots = {s.root.split("/")[0] for s in SOURCES.values()}
    for command in copies:
        target = command[-1]
        m = re.fullmatch(r"dbfs:/Volumes/_catalog_/dev__you__(\w+)/(\w+)/(\w+)/.+", target)
        assert m, target
        assert m.group(1) == schema and m.group(2) in uc["volumes"] and m.group(3) in roots


@pytest.mark.databricks_cli
def test_every_command_and_flag_exists_in_the_real_cli(databricks_cli, tmp_path):
    checked = 0
    for command in commands():
        if command[0] != "databricks":
            continue
        words = [w for w in command[1:] if not w.startswith("-")]
        path = words[:2] if words[0] in ("bundle", "auth", "fs") else words[:1]
        out = subprocess.run([str(databricks_cli), *path, "--help"], capture_output=True, text=True, timeout=60,
                             env=cli_env(tmp_path / "home"))
        assert out.returncode == 0 and f"databricks {' '.join(path)}" in out.stdout, out.stdout + out.stderr
        for flag in (a.split("=", 1)[0] for a in command[1:] if a.startswith("-")):
            assert re.search(rf"(^|[\s,]){re.escape(flag)}[\s=,]", out.stdout, re.M), f"{flag} not in {' '.join(path)}"
        checked += 1
    assert checked >= 6
