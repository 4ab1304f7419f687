"""Read a bundle the way the Databricks CLI does, for one target: databricks.yml plus its ``include`` globs, the
target's overrides merged in, and ``${...}`` references resolved.

Only what running jobs locally needs is modelled: variables (``--var`` > ``BUNDLE_VAR_<name>`` >
``.databricks/bundle/<target>/variable-overrides.json`` > target value > default, complex values included),
``${bundle.*}``, ``${workspace.*}`` (the local user stands in for the workspace user) and job resources.
Unity Catalog resources (``schemas``, ``volumes``) and ``experiments`` are resolved as a deploy names them
(development mode: schema ``dev_<short_name>_<name>``, experiment ``[dev <short_name>] <name>``; a volume's
``volume_path``), so ``${resources.schemas.<key>.name}`` and ``${resources.volumes.<key>.volume_path}`` resolve;
other ``${resources.*}`` references are only known after a deploy, so they stay unresolved and are reported.
"""

from __future__ import annotations

import copy
import getpass
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fitlake.bundle_cli import BUNDLE_FILE, find_bundle_root  # the one bundle-root search, shared with the CLI
# The CLI's reference syntax (libs/dyn/dynvar/ref.go): dot-separated segments with optional [index] suffixes.
# Written without nested ambiguity ([a][a]* instead of [a]+([-_]*[a]+)*, the same language): Python's backtracking
# re takes exponential time on the ambiguous form when a long reference is followed by text (RE2 in Go does not).
_SEGMENT = r"[^\W\d_][^\W_]*(?:[-_]+[^\W_]+)*"
REFERENCE = re.compile(rf"\$\{{({_SEGMENT}(?:\.{_SEGMENT}(?:\[[0-9]+\])*)*(?:\[[0-9]+\])*)\}}")
_PATH_TOKEN = re.compile(rf"({_SEGMENT})|\[([0-9]+)\]")
# Keys of lists the CLI merges element-wise when a target overrides a job (bundle/config/resources/job.go).
_LIST_MERGE_KEYS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "environments": "environment_key"}


class BundleError(ValueError):
    """A bundle that cannot be read or resolved, said in one sentence."""


@dataclass
class Job:
    key: str
    spec: dict[str, Any]  # resolved job settings, as in the YAML
    source: Path  # the YAML file that defined the job: relative task paths are relative to its folder

    @property
    def tasks(self) -> list[dict[str, Any]]:
        return list(self.spec.get("tasks") or [])


@dataclass
class Bundle:
    root: Path
    name: str
    target: str
    targets: list[str]
    variables: dict[str, Any]  # resolved values
    jobs: dict[str, Job]
    artifacts: dict[str, Any]
    unresolved: list[str] = field(default_factory=list)  # "${ref} in <where>": references left as text
    mode: str | None = None  # the target's mode: development, production or none
    # schemas / volumes / experiments as the deploy creates them (names after development mode's prefix)
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise BundleError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict):
        raise BundleError(f"{path} is not a YAML mapping")
    return data


def deep_merge(base: Any, override: Any) -> Any:
    """Target-override merge: maps key by key, task/cluster/environment lists by their key, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if key in _LIST_MERGE_KEYS and isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = _merge_keyed_list(merged[key], value, _LIST_MERGE_KEYS[key])
            else:
                merged[key] = deep_merge(merged.get(key), value) if key in merged else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def _merge_keyed_list(base: list, override: list, key: str) -> list:
    merged = [copy.deepcopy(item) for item in base]
    index = {item.get(key): i for i, item in enumerate(merged) if isinstance(item, dict)}
    for item in override:
        if isinstance(item, dict) and item.get(key) in index:
            merged[index[item[key]]] = deep_merge(merged[index[item[key]]], item)
        else:
            merged.append(copy.deepcopy(item))
    return merged


def _load_documents(root: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """databricks.yml merged with its included files; returns the config and which file defined each job."""
    main = _read_yaml(root / BUNDLE_FILE)
    config = {k: v for k, v in main.items() if k != "include"}
    job_sources = {key: root / BUNDLE_FILE for key in ((main.get("resources") or {}).get("jobs") or {})}
    for pattern in main.get("include") or []:
        matches = sorted(root.glob(pattern))
        if not matches and not any(ch in pattern for ch in "*?["):
            raise BundleError(f"{BUNDLE_FILE} includes {pattern}, which does not exist")
        for path in matches:
            doc = _read_yaml(path)
            for key in (doc.get("resources") or {}).get("jobs") or {}:
                if key in job_sources:
                    raise BundleError(f"job {key!r} is defined twice: in {job_sources[key]} and {path}")
                job_sources[key] = path
            config = deep_merge(config, doc)
    return config, job_sources


def list_targets(root: Path | None = None) -> list[str]:
    config, _ = _load_documents((root or find_bundle_root()).resolve())
    return list(config.get("targets") or {})


def _default_target(config: dict[str, Any]) -> str:
    targets = config.get("targets") or {}
    defaults = [name for name, spec in targets.items() if (spec or {}).get("default")]
    if defaults:
        return defaults[0]
    if len(targets) == 1:
        return next(iter(targets))
    raise BundleError("no target given and none is marked `default: true`")


def _short_name(user: str) -> str:
    """What the CLI makes of a user name for ${workspace.current_user.short_name}."""
    local = user.split("@", 1)[0]
    ascii_only = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "_", ascii_only)


def _variable_values(
    config: dict[str, Any], root: Path, target: str, cli_vars: dict[str, str], environ: dict[str, str]
) -> dict[str, Any]:
    declared = config.get("variables") or {}
    target_values = ((config.get("targets") or {}).get(target) or {}).get("variables") or {}
    for name in target_values:
        if name not in declared:
            raise BundleError(f"target {target!r} sets variable {name!r}, which is not declared under `variables`")
    for name in cli_vars:
        if name not in declared:
            raise BundleError(f"--var {name}=...: variable {name!r} is not declared in {BUNDLE_FILE}")
    overrides_file = root / ".databricks" / "bundle" / target / "variable-overrides.json"
    file_values = json.loads(overrides_file.read_text()) if overrides_file.is_file() else {}
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {"default": spec}
        complex_type = spec.get("type") == "complex"
        target_value = target_values.get(name)
        if isinstance(target_value, dict) and not complex_type and set(target_value) <= {"default", "lookup", "value"}:
            target_value = target_value.get("default", target_value.get("value"))
        env_name = f"BUNDLE_VAR_{name}"
        if name in cli_vars:
            values[name] = cli_vars[name]
        elif env_name in environ and not complex_type:
            values[name] = environ[env_name]
        elif name in file_values:
            values[name] = file_values[name]
        elif target_value is not None:
            values[name] = target_value
        elif "default" in spec:
            values[name] = spec["default"]
        elif "lookup" in spec:
            raise BundleError(f"variable {name!r} is a workspace lookup: give it a value with --var {name}=...")
        else:
            raise BundleError(f"variable {name!r} has no value for target {target!r}: set it with --var {name}=...")
    return values


class _Resolver:
    """Resolves ${...} in a value tree against a context; variables may refer to other variables."""

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context
        self.unresolved: list[str] = []
        self._resolving: list[str] = []

    def lookup(self, ref: str, where: str) -> tuple[bool, Any]:
        node: Any = self.context
        tokens = _PATH_TOKEN.findall(ref)
        for i, (name, index) in enumerate(tokens):
            if name:
                if not isinstance(node, dict) or name not in node:
                    return False, None
                node = node[name]
                if i == 1 and tokens[0][0] == "var":  # a variable's value may itself hold references
                    node = self._resolve_variable(name, node, where)
            else:
                if not isinstance(node, list) or int(index) >= len(node):
                    return False, None
                node = node[int(index)]
        return True, node

    def _resolve_variable(self, name: str, value: Any, where: str) -> Any:
        if name in self._resolving:
            cycle = " -> ".join([*self._resolving[self._resolving.index(name) :], name])
            raise BundleError(f"variables refer to each other in a cycle: {cycle}")
        self._resolving.append(name)
        try:
            resolved = self.resolve(value, f"variable {name}")
        finally:
            self._resolving.pop()
        self.context["var"][name] = resolved
        return resolved

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = REFERENCE.fullmatch(value)
        if whole:  # a whole-string reference keeps the referenced value's type (lists and maps included)
            found, resolved = self.lookup(whole.group(1), where)
            if not found:
                self._unresolved(whole.group(1), where)
                return value
            return resolved

        def substitute(match: re.Match) -> str:
            found, resolved = self.lookup(match.group(1), where)
            if not found:
                self._unresolved(match.group(1), where)
                return match.group(0)
            if isinstance(resolved, (dict, list)):
                raise BundleError(f"{where}: complex value ${{{match.group(1)}}} cannot be part of a string")
            return str(resolved).lower() if isinstance(resolved, bool) else str(resolved)

        return REFERENCE.sub(substitute, value)

    def _unresolved(self, ref: str, where: str) -> None:
        if ref.split(".", 1)[0] == "var":
            raise BundleError(f"{where}: ${{{ref}}} refers to a variable that is not declared in {BUNDLE_FILE}")
        self.unresolved.append(f"${{{ref}}} in {where}")


def load_bundle(
    root: Path | None = None,
    target: str | None = None,
    cli_vars: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
    user: str | None = None,
) -> Bundle:
    """The bundle at ``root`` (default: found from the cwd upward) as seen by ``target``, references resolved."""
    root = (root or find_bundle_root()).resolve()
    environ = dict(os.environ if environ is None else environ)
    config, job_sources = _load_documents(root)
    target = target or _default_target(config)
    targets = config.get("targets") or {}
    if target not in targets:
        raise BundleError(f"unknown target {target!r}: choose one of {', '.join(targets)}")
    target_spec = targets[target] or {}
    for key in ("resources", "artifacts", "workspace", "bundle", "presets", "permissions", "run_as"):
        if key in target_spec:
            config[key] = deep_merge(config.get(key) or {}, target_spec[key])

    name = (config.get("bundle") or {}).get("name")
    if not name:
        raise BundleError(f"{BUNDLE_FILE} has no bundle.name")
    user = user or environ.get("USER") or getpass.getuser()
    short = _short_name(user)
    workspace = dict(config.get("workspace") or {})
    workspace.setdefault("root_path", f"/Workspace/Users/{user}/.bundle/{name}/{target}")  # the CLI's default
    workspace["current_user"] = {"userName": user, "user_name": user, "short_name": short}
    for sub, folder in (("file_path", "files"), ("artifact_path", "artifacts"), ("resource_path", "resources")):
        workspace.setdefault(sub, f"{workspace['root_path']}/{folder}")
    workspace.setdefault("state_path", f"{workspace['root_path']}/state")
    variables = _variable_values(config, root, target, dict(cli_vars or {}), environ)
    context = {
        "bundle": {**(config.get("bundle") or {}), "name": name, "target": target, "environment": target},
        "workspace": workspace,
        "var": variables,
        "variables": {k: {"value": v} for k, v in variables.items()},
    }
    resolver = _Resolver(context)
    for key, value in list(workspace.items()):  # root_path may use ${workspace.current_user.*} / ${bundle.*}
        if key != "current_user":
            workspace[key] = resolver.resolve(value, f"workspace.{key}")
    mode = target_spec.get("mode")
    context["resources"] = deployed_resources(config.get("resources") or {}, resolver, mode, short)
    for var_name in list(variables):
        resolver.lookup(f"var.{var_name}", f"variable {var_name}")
    jobs_spec = (config.get("resources") or {}).get("jobs") or {}
    jobs = {
        key: Job(key, resolver.resolve(spec or {}, f"resources.jobs.{key}"), job_sources.get(key, root / BUNDLE_FILE))
        for key, spec in jobs_spec.items()
    }
    return Bundle(
        root=root,
        name=name,
        target=target,
        targets=list(targets),
        variables=dict(context["var"]),
        jobs=jobs,
        artifacts=resolver.resolve(config.get("artifacts") or {}, "artifacts"),
        unresolved=resolver.unresolved,
        mode=mode,
        resources=context["resources"],
    )


DEPLOYED_TYPES = ("schemas", "volumes", "experiments")


def deployed_resources(resources: dict[str, Any], resolver: "_Resolver", mode: str | None, short: str) -> dict:
    """Schemas, then volumes (which refer to their schema), then experiments, named as a deploy names them.

    Development mode prefixes Unity Catalog names with ``dev_<short_name>_`` and an experiment's last path part
    with ``[dev <short_name>] `` (what `databricks bundle validate -t dev` shows); volumes keep their name and get
    ``volume_path`` = ``/Volumes/<catalog>/<schema>/<name>``.
    """
    done: dict[str, dict[str, dict[str, Any]]] = {}
    resolver.context["resources"] = done
    development = mode == "development"
    for kind in DEPLOYED_TYPES:
        done[kind] = {}
        for key, spec in ((resources.get(kind) or {}).items()):
            item = resolver.resolve(copy.deepcopy(spec or {}), f"resources.{kind}.{key}")
            if kind == "schemas" and development and isinstance(item.get("name"), str):
                item["name"] = f"dev_{short}_{item['name']}"
            if kind == "volumes":
                item["volume_path"] = f"/Volumes/{item.get('catalog_name')}/{item.get('schema_name')}/{item.get('name')}"
            if kind == "experiments" and development and isinstance(item.get("name"), str):
                folder, _, base = item["name"].rpartition("/")
                item["name"] = f"{folder}/[dev {short}] {base}" if folder else f"[dev {short}] {base}"
            done[kind][key] = item
    return done


def parse_var_assignments(assignments: list[str] | None) -> dict[str, str]:
    """``["name=value", ...]`` (the CLI's ``--var`` syntax) as a dict."""
    values: dict[str, str] = {}
    for item in assignments or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BundleError(f"--var {item!r}: expected name=value")
        values[name.strip()] = value
    return values
