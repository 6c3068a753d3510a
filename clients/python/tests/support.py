"""Test support: the real system (the all-in-one binary) started per test, a proxy that loses a
response, and TOTP codes computed with hmac (test code only; the library needs none of it).

The binary is ``$ALL_IN_ONE_BIN``, else ``$CARGO_TARGET_DIR/debug/all-in-one``, else the repository's
``target/debug/all-in-one``. Without one the tests are skipped, except under ``CI=true`` where that
is a failure. ``$TEST_REDIS_URL``, when set, puts the service on that Redis under a key prefix of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import queue
import struct
import subprocess
import sys
import threading
import time
import unittest
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
sys.path.insert(0, str(HERE.parent / "src"))

USER = "api_user"
PASSWORD = "client-tests-password-1"
EMAIL = "api_user@example.com"


def on_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "0", "false")


def binary() -> Path:
    given = os.environ.get("ALL_IN_ONE_BIN")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "all-in-one"


class Service:
    """One all-in-one process on a free port, its JSON log lines kept for counting requests."""

    def __init__(self, **env: str) -> None:
        path = binary()
        if not path.exists():
            message = f"the all-in-one binary is not built ({path}): cargo build -p all-in-one"
            if on_ci():
                raise AssertionError(message)
            raise unittest.SkipTest(message)
        vars = {
            "PATH": os.environ.get("PATH", ""),
            "JWT_SECRET": "client-tests-secret-0123456789abcdef",
            "API_PASSWORD": PASSWORD,
            "API_USER_EMAIL": EMAIL,
            "ALL_IN_ONE_BIND_ADDR": "127.0.0.1:0",
            "LOG_FORMAT": "json",
            # 32 bytes, base64: MFA secrets sealed with a fixed test key (required with Redis).
            "MFA_ENCRYPTION_KEY": base64.b64encode(b"client-tests-mfa-key-0123456789a").decode(),
        }
        redis = os.environ.get("TEST_REDIS_URL")
        if redis:
            vars["REDIS_URL"] = redis
            vars["REDIS_KEY_PREFIX"] = f"clients-py-{uuid.uuid4().hex}:"
        vars.update(env)
        self.lines: List[str] = []
        self._proc = subprocess.Popen(
            [str(path)], env=vars, cwd=os.environ.get("TMPDIR", "/tmp"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        found: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, args=(found,), daemon=True).start()
        try:
            addr = found.get(timeout=30)
        except queue.Empty:
            addr = ""
        if not addr:
            self.stop()
            raise AssertionError(f"all-in-one did not log 'listening': {self.lines}")
        self.origin = f"http://{addr}"

    def _read(self, found: "queue.Queue[str]") -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.lines.append(line.rstrip("\n"))
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "listening":
                found.put(entry["addr"])
        found.put("")  # the process ended

    def requests(self, method: str, path: str, status: Optional[int] = None) -> int:
        """How many requests the service logged for ``method path`` (with ``status``, when given), once
        its log has been quiet for a moment (a request's line comes after its answer)."""
        self.settle()
        count = 0
        for line in list(self.lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "request" and entry.get("method") == method and entry.get("path") == path:
                if status is None or entry.get("status") == status:
                    count += 1
        return count

    def settle(self) -> None:
        deadline = time.time() + 3
        seen = -1
        while len(self.lines) != seen and time.time() < deadline:
            seen = len(self.lines)
            time.sleep(0.3)

    def reuse_detected(self) -> bool:
        self.settle()
        return any("reuse detected" in line for line in list(self.lines))

    def stop(self) -> None:
        self._proc.kill()
        self._proc.wait()


def post(origin: str, path: str, body: Dict[str, Any], token: Optional[str] = None) -> Dict[str, Any]:
    """A plain request, outside the library: how the tests act as another device."""
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{origin}{path}", json=body, headers=headers, timeout=10).json()


# --- TOTP (RFC 6238, SHA-1, 6 digits, 30 s) -----------------------------------------------------


def totp(secret_b32: str, step: int) -> str:
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


class Authenticator:
    """A user's authenticator app: each code is for a later step than the last one used (the service
    accepts a step once, and ±1 step around its clock)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.last = 0

    def code(self) -> str:
        step = max(int(time.time()) // 30, self.last + 1)
        self.last = step
        return totp(self.secret, step)


def enrol_mfa(origin: str) -> Authenticator:
    """Turns MFA on for the API user through the API, as a user would."""
    token = post(origin, "/auth/login", {"username": USER, "password": PASSWORD})["datos"]["accessToken"]
    setup = post(origin, "/auth/mfa/setup", {}, token)
    assert setup["exito"], setup
    app = Authenticator(setup["datos"]["secret"])
    activated = post(origin, "/auth/mfa/activate", {"code": app.code()}, token)
    assert activated["exito"], activated
    return app


# --- a proxy that loses answers -----------------------------------------------------------------


class LossyProxy:
    """Forwards every request to ``origin``; for the first ``drop`` requests to ``path`` it reads the
    service's answer, keeps it in ``dropped``, and closes the connection without a byte to the client:
    a response lost on the way back."""

    def __init__(self, origin: str, path: str, drop: int = 1) -> None:
        upstream = urlsplit(origin)
        proxy = self
        self.dropped: List[Dict[str, Any]] = []
        self._left = drop
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                with proxy._lock:
                    lose = self.path == path and proxy._left > 0
                    if lose:
                        proxy._left -= 1
                        proxy.dropped.append(json.loads(data))
                if lose:
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
