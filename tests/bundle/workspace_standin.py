"""A loopback stand-in for the few workspace calls `databricks bundle validate` makes, so the CLI's full
validation and variable resolution run offline in the tests.

What `bundle validate` (CLI 1.10) asks, found by running it against this server and logging every request:
- who the current user is (SCIM ``Me``): for ``${workspace.current_user.*}`` and the development/production mode
  checks;
- the status of the bundle's workspace folder, creating it when missing (the file-sync check), walking up to the
  closest existing folder and reading its ACL (the production ``permissions`` check);
- ``/.well-known/databricks-config`` (host metadata, optional: a 404 only gives a warning).
Folders live in memory; every other path gets a 404 and is recorded, so a CLI upgrade that starts asking for more
shows up in ``unexpected_requests()`` instead of passing silently. Nothing here is a real workspace: a real deploy
needs a real workspace and real authentication.
"""

from __future__ import annotations

import json
import posixpath
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

USER_NAME = "fitlake-ci@example.com"
SHORT_NAME = "fitlake_ci"  # what the CLI derives from USER_NAME for ${workspace.current_user.short_name}
ME = {
    "id": "4242424242424242",
    "userName": USER_NAME,
    "displayName": "fitlake CI",
    "active": True,
    "emails": [{"value": USER_NAME, "primary": True, "type": "work"}],
    "groups": [{"display": "users", "value": "1"}],
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
}
KNOWN_PATHS = {
    ("GET", "/.well-known/databricks-config"),  # answered 404, as by a workspace without host metadata
    ("GET", "/api/2.0/preview/scim/v2/Me"),
    ("GET", "/api/2.0/workspace/get-status"),
    ("POST", "/api/2.0/workspace/mkdirs"),
}
PERMISSIONS_PREFIX = "/api/2.0/permissions/directories/"


def _not_found(message: str) -> tuple[int, dict]:
    return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": message}


class _Workspace:
    """Workspace folders by path (a user's home exists, as in a real workspace)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.folders: dict[str, int] = {}
        for path in ("/", "/Workspace", "/Workspace/Users", "/Workspace/Shared", f"/Workspace/Users/{USER_NAME}"):
            self.mkdirs(path)

    def mkdirs(self, path: str) -> None:
        with self.lock:
            while path not in self.folders:
                self.folders[path] = 1000 + len(self.folders)
                path = posixpath.dirname(path)

    def status(self, path: str) -> tuple[int, dict]:
        object_id = self.folders.get(path.rstrip("/") or "/")
        if object_id is None:
            return _not_found(f"Path ({path}) doesn't exist.")
        return 200, {"object_type": "DIRECTORY", "path": path, "object_id": object_id}

    def acl(self, object_id: str) -> tuple[int, dict]:
        if not object_id.isdigit() or int(object_id) not in self.folders.values():
            return _not_found(f"directory {object_id} does not exist")
        acl = [{"user_name": USER_NAME, "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": False}]}]
        return 200, {"object_id": f"/directories/{object_id}", "object_type": "directory", "access_control_list": acl}


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        self.server.requests.append((self.command, url.path))
        status, payload = self._route(url.path, parse_qs(url.query), body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        ws = self.server.workspace
        if (self.command, path) == ("GET", "/api/2.0/preview/scim/v2/Me"):
            return 200, ME
        if (self.command, path) == ("GET", "/api/2.0/workspace/get-status"):
            return ws.status(query.get("path", [""])[0])
        if (self.command, path) == ("POST", "/api/2.0/workspace/mkdirs"):
            ws.mkdirs(str(body.get("path", "")).rstrip("/") or "/")
            return 200, {}
        if self.command == "GET" and path.startswith(PERMISSIONS_PREFIX):
            return ws.acl(path[len(PERMISSIONS_PREFIX) :])
        return _not_found(f"stand-in: no {self.command} {path}")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args) -> None:  # requests are kept in server.requests instead
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str]] = []
        self.workspace = _Workspace()


class WorkspaceStandIn:
    """Context manager: the stand-in on 127.0.0.1:<free port>; ``.host`` is its URL."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self._server.requests)

    def unexpected_requests(self) -> list[tuple[str, str]]:
        return [
            (m, p) for m, p in self.requests if (m, p) not in KNOWN_PATHS and not p.startswith(PERMISSIONS_PREFIX)
        ]

    def __enter__(self) -> "WorkspaceStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
