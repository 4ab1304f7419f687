"""The stand-in workspace: the dev/prod code path of fitlake on this machine, for tests (never in the wheel).

One switch, ``FITLAKE_STANDIN_WORKSPACE=<folder>`` (``fitlake.config.standin_root``), and
``fitlake bundle run <job> -t dev`` runs the dev target's tasks here:

* **Volumes**: ``/Volumes/<catalog>/<schema>/<volume>/...`` is ``<folder>/Volumes/...`` (``fitlake.config.on_volume``).
* **Catalog**: three-level names resolve in Spark's session catalog, whose name is ``spark_catalog`` (so the
  bundle is run with ``--var catalog=spark_catalog``). A schema is a folder ``<folder>/catalog/<schema>.db``; each
  task's session attaches every schema and Delta table found there, so names persist across task processes as in
  Unity Catalog. A schema exists only if the "deploy" (``deploy``) created it from the bundle's ``resources.schemas``:
  a bundle that does not declare it fails here as it would on Databricks.
* **Auto Loader**: ``cloudFiles`` is replaced by ``read_cloudfiles``, which enforces the documented contract (below)
  and reads through Spark's local file source.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from fitlake_bundle.config import BundleError

CATALOG = "spark_catalog"


class StandInError(BundleError):
    """What Databricks would refuse, said the way it says it (error class first)."""


def folder() -> Path:
    from fitlake.config import standin_root

    root = standin_root()
    if root is None:
        raise StandInError("FITLAKE_STANDIN_WORKSPACE is not set: the stand-in workspace is off")
    return root


def catalog_dir() -> Path:
    return folder() / "catalog"


# ---- deploy ----------------------------------------------------------------------------------------------------------
def deploy(bundle) -> list[str]:
    """What `databricks bundle deploy` creates that the tasks need: the bundle's schemas and Volumes."""
    from fitlake.config import on_volume

    created = []
    for key, schema in bundle.resources.get("schemas", {}).items():
        if schema.get("catalog_name") != CATALOG:
            raise StandInError(f"schema {key}: the stand-in workspace has one catalog, {CATALOG!r}; run the bundle "
                               f"with --var catalog={CATALOG}")
        (catalog_dir() / f"{schema['name']}.db").mkdir(parents=True, exist_ok=True)
        created.append(f"schema {CATALOG}.{schema['name']}")
    schemas = {s["name"] for s in bundle.resources.get("schemas", {}).values()}
    for key, volume in bundle.resources.get("volumes", {}).items():
        if volume.get("schema_name") not in schemas:
            raise StandInError(f"volume {key}: schema {volume.get('schema_name')!r} is not created by this bundle")
        on_volume(volume["volume_path"]).mkdir(parents=True, exist_ok=True)
        created.append(f"volume {volume['volume_path']}")
    return created


# ---- Spark -----------------------------------------------------------------------------------------------------------
def _local_settings(settings):
    if settings.catalog != CATALOG:
        raise StandInError(f"catalog {settings.catalog!r} does not exist in the stand-in workspace: its one catalog "
                           f"is {CATALOG!r} (--var catalog={CATALOG})")
    return replace(settings, target="local", root=folder() / "spark")


def spark_conf(settings, jar_groups: tuple[str, ...] = ("delta",)) -> dict[str, str]:
    """Static Spark settings of a stand-in task (spark-submit passes them before the JVM starts)."""
    from fitlake.spark import local_conf

    conf = local_conf(_local_settings(settings), jar_groups)
    conf["spark.sql.warehouse.dir"] = str(catalog_dir())  # managed tables: <catalog>/<schema>.db/<table>
    return conf


def workspace_bytes() -> int:
    """Every byte in the stand-in workspace (landing and state Volumes, catalog tables): at least what one task reads."""
    return sum(p.stat().st_size for p in folder().rglob("*") if p.is_file() and not p.is_symlink())


def get_spark(settings, app_name: str, jar_groups: tuple[str, ...], conf: dict | None):
    from fitlake.spark import get_spark as local_get_spark
    from fitlake.spark import small_input_options

    # A catalog target's task does not size its input (Databricks picks its own execution), so its conf is empty;
    # on this machine the small-input rule of local runs applies (plans interpreted and the JIT at C1 at most
    # Settings.interpreted_max_bytes of input, spark.small_input_options), sized by the whole workspace.
    small, jit = small_input_options(settings, workspace_bytes())
    extra = {"spark.sql.warehouse.dir": str(catalog_dir()), **small, **(conf or {})}
    spark = local_get_spark(_local_settings(settings), app_name=app_name, jar_groups=jar_groups, conf=extra, jit=jit)
    attach_catalog(spark)
    return spark


def attach_catalog(spark) -> list[str]:
    """Every deployed schema and every Delta table in it, by three-level name, in this session's catalog."""
    attached = []
    for schema_dir in sorted(catalog_dir().glob("*.db")):
        schema = schema_dir.name[: -len(".db")]
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {CATALOG}.`{schema}` LOCATION '{schema_dir}'")
        for table_dir in sorted(p for p in schema_dir.iterdir() if p.is_dir()):
            log = table_dir / "_delta_log"
            if log.is_dir() and any(p.name.split(".")[0].isdigit() for p in log.iterdir()):
                name = f"{CATALOG}.`{schema}`.`{table_dir.name}`"
                spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{table_dir}'")
                attached.append(name)
    return attached


# ---- cloudFiles --------------------------------------------------------------------------------------------------------
# The options Auto Loader documents ("Auto Loader options": common options, directory listing options, generic file
# options, and the format options of text, CSV and JSON). With `cloudFiles.validateOptions` (default true) Auto Loader
# "returns an error for unknown or inconsistent options": so does the stand-in.
COMMON_OPTIONS = {
    "cloudFiles.allowOverwrites", "cloudFiles.backfillInterval", "cloudFiles.cleanSource",
    "cloudFiles.cleanSource.retentionDuration", "cloudFiles.cleanSource.moveDestination", "cloudFiles.format",
    "cloudFiles.includeExistingFiles", "cloudFiles.inferColumnTypes", "cloudFiles.maxBytesPerTrigger",
    "cloudFiles.maxFileAge", "cloudFiles.maxFilesPerTrigger", "cloudFiles.partitionColumns",
    "cloudFiles.schemaEvolutionMode", "cloudFiles.schemaHints", "cloudFiles.schemaLocation",
    "cloudFiles.useStrictGlobber", "cloudFiles.validateOptions", "cloudFiles.useIncrementalListing",
    "cloudFiles.useNotifications", "cloudFiles.useManagedFileEvents",
}
GENERIC_OPTIONS = {"ignoreCorruptFiles", "ignoreMissingFiles", "modifiedAfter", "modifiedBefore", "pathGlobFilter",
                   "fileNamePattern", "recursiveFileLookup"}
FORMAT_OPTIONS = {
    "text": {"encoding", "lineSep", "wholeText"},
    "csv": {"badRecordsPath", "charToEscapeQuoteEscaping", "columnNameOfCorruptRecord", "comment", "dateFormat",
            "emptyValue", "encoding", "enforceSchema", "escape", "header", "ignoreLeadingWhiteSpace",
            "ignoreTrailingWhiteSpace", "inferSchema", "lineSep", "locale", "maxCharsPerColumn", "maxColumns",
            "mergeSchema", "mode", "multiLine", "nanValue", "negativeInf", "nullValue", "parserCaseSensitive",
            "positiveInf", "preferDate", "quote", "readerCaseSensitive", "rescuedDataColumn", "sep", "delimiter",
            "skipRows", "timestampFormat", "timeZone", "unescapedQuoteHandling"},
    "json": {"allowBackslashEscapingAnyCharacter", "allowComments", "allowNonNumericNumbers", "allowNumericLeadingZeros",
             "allowSingleQuotes", "allowUnquotedControlChars", "allowUnquotedFieldNames", "badRecordsPath",
             "columnNameOfCorruptRecord", "dateFormat", "dropFieldIfAllNull", "encoding", "inferTimestamp", "lineSep",
             "locale", "mode", "multiLine", "prefersDecimal", "primitivesAsString", "readerCaseSensitive",
             "rescuedDataColumn", "singleVariantColumn", "timestampFormat", "timeZone"},
}
FIXED_SCHEMA_FORMATS = {"text", "binaryFile"}  # "Configure schema inference and evolution": not applicable
EVOLUTION_MODES = {"addNewColumns", "rescue", "failOnNewColumns", "none"}


def check_options(options: dict[str, str], schema) -> str:
    """The format, after checking the options as Auto Loader does; raises StandInError otherwise."""
    fmt = options.get("cloudFiles.format")
    if not fmt:
        raise StandInError("cloudFiles.format is required (the format of the files in the source path)")
    if fmt not in FORMAT_OPTIONS:
        raise StandInError(f"the stand-in reads cloudFiles.format text, csv or json, not {fmt!r}")
    known = {o.lower() for o in (*COMMON_OPTIONS, *GENERIC_OPTIONS, *FORMAT_OPTIONS[fmt])}
    unknown = sorted(k for k in options if k.lower() not in known)
    if unknown:
        raise StandInError(f"CF_UNKNOWN_OPTION_KEYS_ERROR: unknown option(s) for cloudFiles.format {fmt}: "
                           f"{', '.join(unknown)} (cloudFiles.validateOptions is on)")
    mode = options.get("cloudFiles.schemaEvolutionMode")
    if mode is not None and mode not in EVOLUTION_MODES:
        raise StandInError(f"cloudFiles.schemaEvolutionMode {mode!r}: choose one of {', '.join(sorted(EVOLUTION_MODES))}")
    if fmt not in FIXED_SCHEMA_FORMATS and schema is None:
        if not options.get("cloudFiles.schemaLocation"):
            # "Specifying a target directory for the option cloudFiles.schemaLocation enables schema inference"
            raise StandInError("cloudFiles.schemaLocation is required to infer the schema (or give .schema(...))")
    if schema is not None and mode == "addNewColumns":
        # "addNewColumns mode is not allowed when the schema of the stream is provided" (schema evolution docs)
        raise StandInError("cloudFiles.schemaEvolutionMode addNewColumns is not allowed when a schema is provided")
    if fmt in FIXED_SCHEMA_FORMATS and (options.get("cloudFiles.schemaHints") or mode not in (None, "none")):
        raise StandInError(f"cloudFiles.format {fmt} has a fixed schema: no schemaHints or schemaEvolutionMode")
    return fmt


def _opt(options: dict[str, str], name: str, default: str | None = None) -> str | None:
    lowered = {k.lower(): v for k, v in options.items()}
    return lowered.get(name.lower(), default)


def _source_for(fmt: str, options: dict[str, str], hints: list[str]):
    from fitlake.bronze.sources import BronzeSource

    return BronzeSource("standin", fmt, f"x/{_opt(options, 'pathGlobFilter', '*')}", tuple(hints) or ("_",),
                        delimiter=_opt(options, "sep", _opt(options, "delimiter", ",")))


def _hint_names(options: dict[str, str]) -> list[str]:
    hints = options.get("cloudFiles.schemaHints") or ""
    return [h.strip().split(" ")[0].strip("`") for h in hints.split(",") if h.strip()]


def _inferred_columns(path: Path, fmt: str, options: dict[str, str]) -> list[str]:
    """Auto Loader's schema inference (columns only): the hints, then the names in the files."""
    from fitlake.bronze import schema as schemas

    source = _source_for(fmt, options, _hint_names(options))
    files = [p for p in sorted(path.rglob(_opt(options, "pathGlobFilter", "*"))) if p.is_file()]
    samples = []
    for f in files:
        lines = [ln for ln in f.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff").splitlines() if ln.strip()]
        samples.extend(lines[:1] if fmt == "csv" else lines)
    return list(schemas.infer_columns(fmt, samples, source.columns, source.delimiter))


def _schema_columns(path: Path, fmt: str, options: dict[str, str]) -> list[str]:
    """Inferring formats without a given schema: CF_EMPTY_DIR on an empty folder; addNewColumns stops on a new one.

    "Auto Loader detects the addition of new columns as it processes your data. When Auto Loader detects a new
    column, the stream stops with an UnknownFieldException. Before your stream throws this error, Auto Loader
    performs schema inference on the latest micro-batch of data and updates the schema location with the latest
    schema" (schema evolution docs).
    """
    location = Path(options["cloudFiles.schemaLocation"]) / "_schemas"
    stored = location / "0"
    has_files = any(p.is_file() for p in path.rglob(_opt(options, "pathGlobFilter", "*")))
    if not stored.is_file():
        if not has_files:
            raise StandInError(f"[CF_EMPTY_DIR_FOR_SCHEMA_INFERENCE] Cannot infer schema when the input path `{path}` "
                               "is empty. Please try to start the stream when there are files in the input path, or "
                               "specify the schema.")
        location.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps(_inferred_columns(path, fmt, options)))
    columns = json.loads(stored.read_text())
    mode = options.get("cloudFiles.schemaEvolutionMode", "addNewColumns")
    new = [c for c in _inferred_columns(path, fmt, options) if c not in columns]
    if new and mode in ("addNewColumns", "failOnNewColumns"):
        if mode == "addNewColumns":
            stored.write_text(json.dumps([*columns, *new]))
        raise StandInError(f"[UNKNOWN_FIELD_EXCEPTION.NEW_FIELDS_IN_FILE] Encountered unknown fields during parsing: "
                           f"{', '.join(new)}, which can be fixed by an automatic retry: "
                           f"{mode == 'addNewColumns'}")
    return columns


def read_cloudfiles(spark, path: str, options: dict[str, str], schema=None):
    """``spark.readStream.format("cloudFiles").options(**options)[.schema(schema)].load(path)``, on this machine.

    Files are listed by Spark's local file stream source (each file once per checkpoint, like Auto Loader), and a
    ``_metadata`` column carries ``file_path`` / ``file_modification_time`` as Auto Loader's file metadata does.
    """
    from pyspark.sql import functions as F

    from fitlake.bronze.parse import CORRUPT, RESCUED, SOURCE_FILE, SOURCE_MODIFIED, parse_landing_files

    fmt = check_options(options, schema)
    folder_path = Path(path)
    folder_path.mkdir(parents=True, exist_ok=True)  # object storage: a prefix without files is just empty
    columns = None if fmt in FIXED_SCHEMA_FORMATS or schema is not None else _schema_columns(folder_path, fmt, options)
    whole = fmt != "text" or (_opt(options, "wholeText", "false").lower() == "true")
    local = {
        "wholetext": str(whole).lower(),
        "recursiveFileLookup": _opt(options, "recursiveFileLookup", "false"),
        "pathGlobFilter": _opt(options, "pathGlobFilter", "*"),
        "maxFileAge": "36500d",  # Auto Loader never forgets a file by default (cloudFiles.maxFileAge: none)
    }
    if options.get("cloudFiles.maxFilesPerTrigger"):
        local["maxFilesPerTrigger"] = options["cloudFiles.maxFilesPerTrigger"]
    if (options.get("cloudFiles.includeExistingFiles") or "true").lower() != "true":
        raise StandInError("the stand-in reads existing files only with cloudFiles.includeExistingFiles true")
    files = spark.readStream.format("text").options(**local).load(str(folder_path))
    metadata = F.struct(F.col("_metadata.file_path").alias("file_path"),
                        F.col("_metadata.file_modification_time").alias("file_modification_time"))
    if fmt == "text":
        return files.select("value", metadata.alias("_metadata"))
    names = [f.name for f in schema.fields] if schema is not None else columns
    parsed = files.select("value", F.col("_metadata.file_path").alias(SOURCE_FILE),
                          F.col("_metadata.file_modification_time").alias(SOURCE_MODIFIED))
    source = _source_for(fmt, options, names)
    rows = parsed.transform(parse_landing_files(fmt, names, source.delimiter))
    out = [*names, *([RESCUED] if _opt(options, "rescuedDataColumn") else [])]
    out += [CORRUPT] if _opt(options, "columnNameOfCorruptRecord") else []
    meta = F.struct(F.col(SOURCE_FILE).alias("file_path"), F.col(SOURCE_MODIFIED).alias("file_modification_time"))
    return rows.select(*out, meta.alias("_metadata"))
