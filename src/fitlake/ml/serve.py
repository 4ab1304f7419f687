"""``fitlake serve``: the @champion of one model behind MLflow's standard scoring server on 127.0.0.1.

The registered version's MLflow model folder is downloaded once into ``<root>/_mlcache`` and handed to
``mlflow models serve --env-manager local``: the same Spark pipeline ``fitlake score`` runs, loaded through MLflow's
``python_function`` flavour of a Spark model (the server starts a local Spark session, so it needs Java, as every
fitlake job does). ``POST /invocations`` takes the columns of the model's signature (``dataframe_split`` or
``dataframe_records``) and answers ``{"predictions": [...]}``; ``GET /ping`` says when it is ready.
"""

from __future__ import annotations

import os
import sys

from fitlake.config import ConfigError
from fitlake.options import add_common_arguments, settings_from_args

SERVABLE = ("calories", "calories_fitbit", "activity", "personas", "recommend")


def add_arguments(parser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--model", choices=SERVABLE, default="calories",
                        help="which registered model to serve (default: calories, the activity-record model)")
    parser.add_argument("--version", default=None, help="registered version to serve (default: the @champion)")
    parser.add_argument("--port", type=int, default=5001, help="port on 127.0.0.1 (default: 5001)")
    parser.add_argument("--workers", type=int, default=1, help="server workers, each with its own Spark (default: 1)")


def serve_command(model_dir, port: int, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1",
            "-p", str(port), "-w", str(workers), "--env-manager", "local"]


def main(args) -> int:
    from fitlake.dashboard.cli import port_is_free, run_server
    from fitlake.ml import tracking

    settings = settings_from_args(args)
    if not settings.is_local:
        raise ConfigError("fitlake serve runs against a local lakehouse; on Databricks use Model Serving.")
    if not port_is_free(args.port):
        raise ConfigError(f"port {args.port} on 127.0.0.1 is in use: pick another with --port.")
    name = settings.model_name(args.model)
    version = args.version or tracking.champion_version(settings, args.model)
    if version is None:
        print(f"fitlake serve: {name} has no @{tracking.ALIAS} yet; run `fitlake train` first", file=sys.stderr)
        return 2
    model_dir = tracking.local_model_dir(settings, f"models:/{name}/{version}")
    print(f"fitlake serve: {name} v{version} on http://127.0.0.1:{args.port}/invocations (Ctrl+C stops it)",
          flush=True)
    # mlflow starts `uvicorn` by name: put this interpreter's bin folder first, so an unactivated venv works too
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    return run_server(serve_command(model_dir, args.port, args.workers), env, name="fitlake serve")
