"""The client, its token storage and its errors (see the package docstring for why each exists)."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Protocol
from urllib.parse import urlsplit

import requests

log = logging.getLogger("solicitud_auth")

#: Refresh when the access token has less than this left (the guide's 5-minute buffer).
REFRESH_BUFFER = timedelta(minutes=5)

#: What a refresh or an API call answers when the session is over: log in again, or give up.
_SESSION_OVER = ("TOKEN_REVOKED", "TOKEN_EXPIRED")


# --- errors ------------------------------------------------------------------------------------


class AuthError(Exception):
    """The service refused an authentication step; ``status`` and ``codigo`` say how."""

    def __init__(self, message: str, status: Optional[int] = None, codigo: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.codigo = codigo


class SessionExpired(AuthError):
    """The session was revoked or expired and the client holds no credentials to log in again."""


class InvalidCredentials(AuthError):
    """Wrong user or password (422 INVALID_CREDENTIALS)."""


class MfaRequired(AuthError):
    """The password was right and the user has MFA on: call :meth:`APIClient.verify_mfa` with a code,
    or give the client an ``mfa_code`` callback."""


class MfaInvalid(AuthError):
    """A wrong, reused or expired MFA code (422 MFA_INVALID)."""


class RateLimited(AuthError):
    """Too many attempts (429); ``retry_after`` is the service's ``Retry-After`` in seconds."""

    def __init__(self, message: str, retry_after: Optional[int], status: int = 429, codigo: Optional[str] = None):
        super().__init__(message, status, codigo)
        self.retry_after = retry_after


class SaphetyError(AuthError):
    """``/v2/auth/gettoken`` answered ``IsValid: false``; ``codes`` are its ``Errors[].Code``."""

    def __init__(self, message: str, status: int, codes: List[str]):
        super().__init__(message, status, codes[0] if codes else None)
        self.codes = codes


class InsecureTransport(ValueError):
    """Tokens would travel over plain HTTP to another machine; pass ``allow_insecure_http=True`` to
    accept that (never in production)."""


# --- tokens and their storage -------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    """One session's pair. ``expires_at`` is when the access token expires (seconds since the epoch,
    by the client's clock). ``repr`` never shows a token, so logging one by accident leaks nothing."""

    access_token: str = field(repr=False)
    refresh_token: Optional[str] = field(repr=False)
    expires_at: float

    def to_dict(self) -> Dict[str, Any]:
        """For a storage that persists: every field, JSON-ready."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Tokens":
        return cls(data["access_token"], data.get("refresh_token"), float(data["expires_at"]))


class TokenStorage(Protocol):
    """Where the client keeps the session, so an app can persist it (a keyring, an encrypted file).
    ``save`` is called with every new pair, rotated refresh token included; ``clear`` when the session
    ends. Calls come from the client under its own lock, one at a time."""

    def load(self) -> Optional[Tokens]: ...

    def save(self, tokens: Tokens) -> None: ...

    def clear(self) -> None: ...


class MemoryStorage:
    """The default storage: the session lives as long as the client object."""

    def __init__(self, tokens: Optional[Tokens] = None) -> None:
        self._tokens = tokens

    def load(self) -> Optional[Tokens]:
        return self._tokens

    def save(self, tokens: Tokens) -> None:
        self._tokens = tokens

    def clear(self) -> None:
        self._tokens = None


@dataclass(frozen=True)
class SaphetyToken:
    """What ``/v2/auth/gettoken`` gives: an access token (no refresh token) and when it expires."""

    access_token: str = field(repr=False)
    expires: str
    token_type: str
    virtual_operator_alias: Optional[str]


class _Flight:
    """One refresh in progress, which every other caller waits for instead of starting its own."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: Optional[BaseException] = None


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(response: requests.Response) -> Dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --- the client ---------------------------------------------------------------------------------


class APIClient:
    """A session with the identity provider and authenticated calls to the APIs behind it.

    ``username``/``password`` are optional: without them the client works from a stored session and
    raises :class:`SessionExpired` when it ends. ``mfa_code`` is called (with no arguments) for a
    code when a login needs one. ``clock`` returns seconds since the epoch (tests move it).
    """

    def __init__(
        self,
        base_url: str,
        username: Optional[str] = None,
        password: Optional[str] = None,
        *,
        storage: Optional[TokenStorage] = None,
        mfa_code: Optional[Callable[[], str]] = None,
        allow_insecure_http: bool = False,
        session: Optional[requests.Session] = None,
        timeout: float = 30.0,
        refresh_buffer: timedelta = REFRESH_BUFFER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
            raise InsecureTransport(
                f"refusing to send tokens over plain HTTP to {parts.hostname}: use https, "
                "or pass allow_insecure_http=True"
            )
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._storage: TokenStorage = storage if storage is not None else MemoryStorage()
        self._mfa_code = mfa_code
        self._http = session if session is not None else requests.Session()
        self._timeout = timeout
        self._buffer = refresh_buffer.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._flight: Optional[_Flight] = None
        self._mfa_token: Optional[str] = None

    def __repr__(self) -> str:
        return f"APIClient(base_url={self.base_url!r}, username={self.username!r})"

    # The guide's attributes, read-only views of the stored session.

    @property
    def access_token(self) -> Optional[str]:
        tokens = self._storage.load()
        return tokens.access_token if tokens else None

    @property
    def refresh_token(self) -> Optional[str]:
        tokens = self._storage.load()
        return tokens.refresh_token if tokens else None

    @property
    def token_expiry(self) -> Optional[datetime]:
        tokens = self._storage.load()
        return datetime.fromtimestamp(tokens.expires_at) if tokens else None

    @property
    def mfa_pending(self) -> bool:
        """True between a login that answered ``mfaRequired`` and :meth:`verify_mfa`."""
        return self._mfa_token is not None

    # --- logging in ---

    def login(self) -> bool:
        """Logs in with the credentials; True once a session is stored.

        Raises :class:`MfaRequired` when the user has MFA on and there is no ``mfa_code`` callback
        (finish with :meth:`verify_mfa`), :class:`InvalidCredentials`, :class:`RateLimited`.
        """
        with self._lock:
            self._login()
        return True

    def verify_mfa(self, code: str) -> bool:
        """Finishes a login that answered ``mfaRequired`` with a TOTP or recovery code."""
        with self._lock:
            if self._mfa_token is None:
                raise AuthError("no MFA step is pending: call login() first")
            self._verify_mfa(code)
        return True

    def _login(self) -> None:
        if self.username is None or self._password is None:
            raise SessionExpired("no session and no credentials to log in with")
        started = self._clock()
        response = self._post_json("/auth/login", {"username": self.username, "password": self._password})
        body = _json(response)
        datos = body.get("datos") or {}
        if response.status_code == 200 and body.get("exito") and datos.get("mfaRequired"):
            self._mfa_token = datos.get("mfaToken")
            if self._mfa_code is None:
                raise MfaRequired("this user has MFA on: call verify_mfa(code)", 200, "MFA_REQUIRED")
            self._verify_mfa(self._mfa_code())
            return
        self._store_pair(response, body, started)

    def _verify_mfa(self, code: str) -> None:
        started = self._clock()
        response = self._post_json("/auth/mfa/verify", {"mfaToken": self._mfa_token, "code": code})
        body = _json(response)
        if response.status_code == 200 and body.get("exito"):
            self._mfa_token = None
        self._store_pair(response, body, started)

    def _store_pair(self, response: requests.Response, body: Dict[str, Any], started: float) -> None:
        datos = body.get("datos") or {}
        if response.status_code == 200 and body.get("exito") and datos.get("accessToken"):
            self._storage.save(
                Tokens(datos["accessToken"], datos.get("refreshToken"), started + float(datos["expiresIn"]))
            )
            return
        raise self._error(response, body)

    # --- refreshing ---

    def refresh_access_token(self) -> bool:
        """Rotates the session now (sharing a refresh already in progress); True once a new pair is
        stored. When the session is over it logs in again if it can, else raises :class:`SessionExpired`."""
        self._refresh(stale_access=None)
        return True

    def get_headers(self) -> Dict[str, str]:
        """The guide's headers with an access token that has more than the buffer left: refreshed
        first when it has not, logged in first when there is no session and the client can."""
        tokens = self._storage.load()
        if tokens is None:
            self._refresh(stale_access=None)
        elif self._clock() >= tokens.expires_at - self._buffer:
            self._refresh(stale_access=tokens.access_token)
        tokens = self._storage.load()
        if tokens is None:
            raise SessionExpired("no session")
        return {"Authorization": f"Bearer {tokens.access_token}", "Content-Type": "application/json"}

    def _refresh(self, stale_access: Optional[str]) -> None:
        """Single flight: one caller refreshes, the others wait for its outcome. ``stale_access`` is
        the access token the caller found wanting; when the stored one is already another, someone
        refreshed in between and there is nothing to do."""
        with self._lock:
            flight = self._flight
            leader = flight is None
            if leader:
                tokens = self._storage.load()
                if stale_access is not None and tokens is not None and tokens.access_token != stale_access:
                    return
                flight = self._flight = _Flight()
        assert flight is not None
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return
        try:
            self._rotate()
        except BaseException as e:
            flight.error = e
            raise
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()

    def _rotate(self) -> None:
        tokens = self._storage.load()
        if tokens is None or not tokens.refresh_token:
            with self._lock:
                self._login()
            return
        started = self._clock()
        try:
            response = self._post_json("/auth/refresh", {"refreshToken": tokens.refresh_token})
        except (requests.ConnectionError, requests.Timeout):
            # The answer may have been lost after the service rotated: inside its retry grace the same
            # token gets the same pair again, so one retry is safe and keeps the session.
            log.info("refresh: no answer, retrying once")
            started = self._clock()
            response = self._post_json("/auth/refresh", {"refreshToken": tokens.refresh_token})
        body = _json(response)
        if response.status_code == 401 and body.get("codigo") in _SESSION_OVER:
            log.info("refresh: session over (%s)", body.get("codigo"))
            with self._lock:
                self._storage.clear()
                if self.username is None or self._password is None:
                    raise SessionExpired(
                        body.get("mensaje") or "session over", response.status_code, body.get("codigo")
                    )
                self._login()
            return
        with self._lock:
            self._store_pair(response, body, started)

    # --- calls ---

    def request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        """An authenticated call. A 401 that says the token expired or was revoked gets one refresh
        (or a new login) and one retry."""
        extra = kwargs.pop("headers", None) or {}
        kwargs.setdefault("timeout", self._timeout)
        headers = {**self.get_headers(), **extra}
        used = headers["Authorization"][len("Bearer ") :]
        response = self._http.request(method, f"{self.base_url}{endpoint}", headers=headers, **kwargs)
        log.debug("%s %s -> %s", method, endpoint, response.status_code)
        if response.status_code == 401 and _json(response).get("codigo") in _SESSION_OVER:
            self._refresh(stale_access=used)
            headers = {**self.get_headers(), **extra}
            response = self._http.request(method, f"{self.base_url}{endpoint}", headers=headers, **kwargs)
            log.debug("%s %s -> %s (after renewing the session)", method, endpoint, response.status_code)
        return response

    def get(self, endpoint: str, **kwargs: Any) -> requests.Response:
        """Authenticated GET, as in the guide."""
        return self.request("GET", endpoint, **kwargs)

    def post(self, endpoint: str, data: Any = None, **kwargs: Any) -> requests.Response:
        """Authenticated POST of ``data`` as JSON, as in the guide."""
        return self.request("POST", endpoint, json=data, **kwargs)

    def logout(self) -> None:
        """Ends this session at the service and forgets it here."""
        tokens = self._storage.load()
        if tokens is not None:
            self._http.post(
                f"{self.base_url}/auth/logout",
                headers={"Authorization": f"Bearer {tokens.access_token}"},
                timeout=self._timeout,
            )
        with self._lock:
            self._storage.clear()

    # --- Saphety ---

    def gettoken(
        self, username: str, password: str, virtual_operator: str = "saphety", otp: Optional[str] = None
    ) -> SaphetyToken:
        """``POST /v2/auth/gettoken`` (``username`` is the user's e-mail): an access token for
        integrators of the Saphety API. Raises :class:`SaphetyError` with the service's codes
        (``IdentificationDoesNotMatch``, ``MfaRequired``, ...) or :class:`RateLimited`."""
        payload: Dict[str, Any] = {"username": username, "password": password, "virtual_operator": virtual_operator}
        if otp is not None:
            payload["otp"] = otp
        response = self._post_json("/v2/auth/gettoken", payload)
        body = _json(response)
        data = body.get("ResultData") or {}
        if response.status_code == 200 and body.get("IsValid") and data.get("access_token"):
            return SaphetyToken(
                data["access_token"], data.get("expires", ""), data.get("token_type", "bearer"),
                data.get("virtual_operator_alias"),
            )
        codes = [e.get("Code") for e in body.get("Errors") or [] if isinstance(e, dict) and e.get("Code")]
        if response.status_code == 429:
            raise RateLimited("too many attempts", _retry_after(response), 429, codes[0] if codes else None)
        raise SaphetyError(f"gettoken refused: {', '.join(codes) or response.status_code}", response.status_code, codes)

    # --- plumbing ---

    def _post_json(self, path: str, payload: Dict[str, Any]) -> requests.Response:
        response = self._http.post(f"{self.base_url}{path}", json=payload, timeout=self._timeout)
        log.debug("POST %s -> %s", path, response.status_code)
        return response

    def _error(self, response: requests.Response, body: Dict[str, Any]) -> AuthError:
        codigo = body.get("codigo")
        message = body.get("mensaje") or f"HTTP {response.status_code}"
        if response.status_code == 429:
            return RateLimited(message, _retry_after(response), 429, codigo)
        if codigo == "INVALID_CREDENTIALS":
            return InvalidCredentials(message, response.status_code, codigo)
        if codigo == "MFA_INVALID":
            return MfaInvalid(message, response.status_code, codigo)
        if response.status_code == 401 and codigo in _SESSION_OVER:
            return SessionExpired(message, response.status_code, codigo)
        return AuthError(message, response.status_code, codigo)


def _retry_after(response: requests.Response) -> Optional[int]:
    try:
        return int(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


# --- machine clients ----------------------------------------------------------------------------


@dataclass
class _ClientToken:
    access_token: str
    expires_at: float
    lifetime: float
    scope: Optional[str]


class ClientCredentialsClient:
    """A machine client's session: OAuth 2.0 ``client_credentials`` at ``/oauth2/token``.

    The token is kept until shortly before it expires (the guide's 5-minute buffer, or half its life
    if that is shorter) and fetched once for any number of threads; a 401 that says it expired or was
    revoked gets one new token and one retry. ``auth_method`` is the one the client registered:
    ``client_secret_basic`` (HTTP Basic, the default) or ``client_secret_post``. The same
    ``get_headers``, ``request``, ``get`` and ``post`` as :class:`APIClient`; never logs the secret or
    a token. A refused token request raises :class:`AuthError` whose ``codigo`` is the RFC 6749
    ``error`` (``invalid_client``, ``invalid_scope``, ...), or :class:`RateLimited`.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: Optional[str] = None,
        auth_method: str = "client_secret_basic",
        allow_insecure_http: bool = False,
        session: Optional[requests.Session] = None,
        timeout: float = 30.0,
        refresh_buffer: timedelta = REFRESH_BUFFER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
            raise InsecureTransport(
                f"refusing to send a client secret over plain HTTP to {parts.hostname}: use https, "
                "or pass allow_insecure_http=True"
            )
        if auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError(f"auth_method must be client_secret_basic or client_secret_post, not {auth_method!r}")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.auth_method = auth_method
        self._http = session if session is not None else requests.Session()
        self._timeout = timeout
        self._buffer = refresh_buffer.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._flight: Optional[_Flight] = None
        self._token: Optional[_ClientToken] = None

    def __repr__(self) -> str:
        return f"ClientCredentialsClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    @property
    def access_token(self) -> Optional[str]:
        token = self._token
        return token.access_token if token else None

    def fetch_token(self) -> str:
        """A new token now (sharing one already being fetched)."""
        current = self._token
        self._renew(current.access_token if current else None)
        assert self._token is not None
        return self._token.access_token

    def get_headers(self) -> Dict[str, str]:
        token = self._token
        if token is None or self._clock() >= token.expires_at - min(self._buffer, token.lifetime / 2):
            self._renew(token.access_token if token else None)
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.access_token}", "Content-Type": "application/json"}

    def _renew(self, stale: Optional[str]) -> None:
        """Single flight, as :meth:`APIClient._refresh`: one thread asks, the others wait for it."""
        with self._lock:
            flight = self._flight
            leader = flight is None
            if leader:
                if stale is not None and self._token is not None and self._token.access_token != stale:
                    return
                flight = self._flight = _Flight()
        assert flight is not None
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return
        try:
            self._token = self._ask()
        except BaseException as e:
            flight.error = e
            raise
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()

    def _ask(self) -> _ClientToken:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        auth = None
        if self.auth_method == "client_secret_post":
            form.update(client_id=self.client_id, client_secret=self._secret)
        else:
            # RFC 6749 §2.3.1: each part form-encoded, then HTTP Basic.
            from urllib.parse import quote_plus

            auth = (quote_plus(self.client_id), quote_plus(self._secret))
        started = self._clock()
        response = self._http.post(f"{self.base_url}/oauth2/token", data=form, auth=auth, timeout=self._timeout)
        log.debug("POST /oauth2/token -> %s", response.status_code)
        body = _json(response)
        if response.status_code == 200 and body.get("access_token"):
            lifetime = float(body.get("expires_in") or 0)
            return _ClientToken(body["access_token"], started + lifetime, lifetime, body.get("scope"))
        message = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        if response.status_code == 429:
            retry = response.headers.get("Retry-After")
            raise RateLimited(message, int(retry) if retry and retry.isdigit() else None, codigo=body.get("error"))
        raise AuthError(message, response.status_code, body.get("error"))

    def request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        extra = kwargs.pop("headers", None) or {}
        kwargs.setdefault("timeout", self._timeout)
        headers = {**self.get_headers(), **extra}
        used = headers["Authorization"][len("Bearer ") :]
        response = self._http.request(method, f"{self.base_url}{endpoint}", headers=headers, **kwargs)
        log.debug("%s %s -> %s", method, endpoint, response.status_code)
        if response.status_code == 401 and _json(response).get("codigo") in _SESSION_OVER:
            self._renew(used)
            headers = {**self.get_headers(), **extra}
            response = self._http.request(method, f"{self.base_url}{endpoint}", headers=headers, **kwargs)
        return response

    def get(self, endpoint: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", endpoint, **kwargs)

    def post(self, endpoint: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", endpoint, json=data, **kwargs)
