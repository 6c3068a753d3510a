"""The Python client against the real system (the all-in-one binary, one per test):
``python3 -m unittest discover -s clients/python/tests -v``."""

from __future__ import annotations

import io
import logging
import threading
import time
import unittest
from typing import Dict, List, Optional

from support import EMAIL, PASSWORD, USER, LossyProxy, Service, enrol_mfa, post

from solicitud_auth import (
    APIClient,
    AuthError,
    ClientCredentialsClient,
    InsecureTransport,
    InvalidCredentials,
    MemoryStorage,
    MfaInvalid,
    MfaRequired,
    SaphetyError,
    SessionExpired,
    Tokens,
)


class Clock:
    """The client's clock, which a test moves forward (time travel without waiting)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Recording(MemoryStorage):
    """A storage that remembers every pair it was given: what an app persisting the session sees."""

    def __init__(self, tokens: Optional[Tokens] = None) -> None:
        super().__init__(tokens)
        self.saved: List[Tokens] = []

    def save(self, tokens: Tokens) -> None:
        self.saved.append(tokens)
        super().save(tokens)


class ServiceTest(unittest.TestCase):
    env: Dict[str, str] = {}

    def setUp(self) -> None:
        self.service = Service(**self.env)
        self.addCleanup(self.service.stop)
        self.origin = self.service.origin


class Refresh(ServiceTest):
    def test_fifty_threads_inside_the_buffer_share_one_refresh_and_all_succeed(self) -> None:
        clock = Clock()
        storage = Recording()
        client = APIClient(self.origin, USER, PASSWORD, storage=storage, clock=clock)
        self.assertTrue(client.login())
        first = client.refresh_token
        # 56 minutes later: four minutes left, inside the 5-minute buffer.
        clock.offset = 56 * 60
        barrier = threading.Barrier(50)
        statuses: List[int] = []
        errors: List[BaseException] = []

        def call() -> None:
            try:
                barrier.wait()
                statuses.append(client.get("/solicitud/").status_code)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=call) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(statuses, [200] * 50)
        self.assertEqual(self.service.requests("POST", "/auth/refresh"), 1)
        self.assertEqual(self.service.requests("POST", "/auth/refresh", 200), 1)
        # The rotated refresh token is the one kept.
        self.assertNotEqual(client.refresh_token, first)
        self.assertEqual(len(storage.saved), 2)
        self.assertEqual(storage.saved[-1].refresh_token, client.refresh_token)

    def test_a_lost_refresh_response_is_retried_once_and_gets_the_same_pair(self) -> None:
        proxy = LossyProxy(self.origin, "/auth/refresh")
        self.addCleanup(proxy.stop)
        client = APIClient(proxy.origin, USER, PASSWORD)
        client.login()
        self.assertTrue(client.refresh_access_token())
        self.assertEqual(len(proxy.dropped), 1)
        lost = proxy.dropped[0]["datos"]
        self.assertEqual((client.access_token, client.refresh_token), (lost["accessToken"], lost["refreshToken"]))
        self.assertEqual(self.service.requests("POST", "/auth/refresh", 200), 2)
        self.assertFalse(self.service.reuse_detected())
        self.assertEqual(client.get("/solicitud/").status_code, 200)
        # And the session goes on rotating from the pair that was lost.
        self.assertTrue(client.refresh_access_token())
        self.assertEqual(client.get("/solicitud/").status_code, 200)

class AfterTheGrace(ServiceTest):
    env = {"JWT_REFRESH_RETRY_GRACE_SECONDS": "1"}

    def test_a_second_refresh_after_the_grace_is_not_reuse(self) -> None:
        client = APIClient(self.origin, USER, PASSWORD)
        client.login()
        client.refresh_access_token()
        time.sleep(2.2)
        self.assertTrue(client.refresh_access_token())
        self.assertEqual(self.service.requests("POST", "/auth/refresh", 200), 2)
        self.assertEqual(self.service.requests("POST", "/auth/login", 200), 1)
        self.assertFalse(self.service.reuse_detected())
        self.assertEqual(client.get("/solicitud/").status_code, 200)


class NoGrace(ServiceTest):
    env = {"JWT_REFRESH_RETRY_GRACE_SECONDS": "0"}

    def test_a_refresh_the_service_takes_for_reuse_raises_session_expired_without_credentials(self) -> None:
        client = APIClient(self.origin, USER, PASSWORD)
        client.login()
        stale = Tokens(client.access_token or "", client.refresh_token, time.time() + 3600)
        client.refresh_access_token()
        # Another client holding the dead token: its refresh is reuse and ends the session.
        holder = APIClient(self.origin, storage=MemoryStorage(stale))
        with self.assertRaises(SessionExpired) as caught:
            holder.refresh_access_token()
        self.assertEqual(caught.exception.codigo, "TOKEN_REVOKED")
        self.assertIsNone(holder.access_token)



class LogoutElsewhere(ServiceTest):
    def logout_all_elsewhere(self) -> None:
        other = APIClient(self.origin, USER, PASSWORD)
        other.login()
        self.assertEqual(other.post("/auth/logout-all").status_code, 200)

    def test_the_next_call_logs_in_again_with_credentials(self) -> None:
        client = APIClient(self.origin, USER, PASSWORD)
        client.login()
        before = client.access_token
        self.logout_all_elsewhere()
        response = client.get("/solicitud/")
        self.assertEqual(response.status_code, 200, response.text)
        self.assertNotEqual(client.access_token, before)
        self.assertEqual(self.service.requests("POST", "/auth/login", 200), 3)

    def test_the_next_call_raises_session_expired_without_credentials(self) -> None:
        seeded = APIClient(self.origin, USER, PASSWORD)
        seeded.login()
        storage = MemoryStorage(Tokens(seeded.access_token or "", seeded.refresh_token, time.time() + 3600))
        client = APIClient(self.origin, storage=storage)
        self.assertEqual(client.get("/solicitud/").status_code, 200)
        self.logout_all_elsewhere()
        with self.assertRaises(SessionExpired) as caught:
            client.get("/solicitud/")
        self.assertEqual(caught.exception.codigo, "TOKEN_REVOKED")
        self.assertIsNone(storage.load())

    def test_a_stored_session_resumes_in_a_new_client_and_keeps_rotating(self) -> None:
        storage = Recording()
        APIClient(self.origin, USER, PASSWORD, storage=storage).login()
        resumed = APIClient(self.origin, storage=storage)
        resumed.refresh_access_token()
        self.assertEqual(resumed.get("/solicitud/").status_code, 200)
        self.assertEqual(len(storage.saved), 2)
        self.assertNotEqual(storage.saved[0].refresh_token, storage.saved[1].refresh_token)


class Mfa(ServiceTest):
    def test_the_code_callback_is_used_once_for_the_login(self) -> None:
        app = enrol_mfa(self.origin)
        calls: List[str] = []

        def code() -> str:
            calls.append(app.code())
            return calls[-1]

        clock = Clock()
        client = APIClient(self.origin, USER, PASSWORD, mfa_code=code, clock=clock)
        self.assertEqual(client.get("/solicitud/").status_code, 200)
        clock.offset = 56 * 60
        self.assertEqual(client.get("/solicitud/").status_code, 200)
        self.assertEqual(len(calls), 1)
        self.assertEqual(self.service.requests("POST", "/auth/mfa/verify", 200), 1)
        self.assertEqual(self.service.requests("POST", "/auth/refresh", 200), 1)

    def test_without_a_callback_login_raises_and_verify_mfa_finishes_it(self) -> None:
        app = enrol_mfa(self.origin)
        client = APIClient(self.origin, USER, PASSWORD)
        with self.assertRaises(MfaRequired):
            client.login()
        self.assertTrue(client.mfa_pending)
        code = app.code()
        with self.assertRaises(MfaInvalid):
            client.verify_mfa("000000" if code != "000000" else "111111")
        self.assertTrue(client.verify_mfa(code))
        self.assertFalse(client.mfa_pending)
        self.assertEqual(client.get("/solicitud/").status_code, 200)


class Errors(ServiceTest):
    def test_wrong_credentials_raise_invalid_credentials(self) -> None:
        with self.assertRaises(InvalidCredentials) as caught:
            APIClient(self.origin, USER, "wrong-password").login()
        self.assertEqual((caught.exception.status, caught.exception.codigo), (422, "INVALID_CREDENTIALS"))

    def test_no_token_reaches_a_log_or_a_repr(self) -> None:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        root = logging.getLogger()
        root.addHandler(handler)
        old = root.level
        root.setLevel(logging.DEBUG)
        try:
            client = APIClient(self.origin, USER, PASSWORD)
            client.login()
            seen = {client.access_token, client.refresh_token}
            client.refresh_access_token()
            seen |= {client.access_token, client.refresh_token}
            client.get("/solicitud/")
            text = stream.getvalue() + repr(client) + repr(Tokens(client.access_token or "", client.refresh_token, 0))
        finally:
            root.removeHandler(handler)
            root.setLevel(old)
        self.assertIn("/auth/refresh", text)
        for token in seen:
            self.assertTrue(token)
            self.assertNotIn(str(token), text)
            self.assertNotIn(str(token)[-20:], text)


class Saphety(ServiceTest):
    def test_gettoken_gives_a_token_the_api_accepts(self) -> None:
        client = APIClient(self.origin)
        token = client.gettoken(EMAIL, PASSWORD)
        self.assertEqual(token.token_type, "bearer")
        self.assertEqual(token.virtual_operator_alias, "saphety")
        import requests

        r = requests.get(f"{self.origin}/solicitud/", headers={"Authorization": f"Bearer {token.access_token}"}, timeout=10)
        self.assertEqual(r.status_code, 200)

    def test_gettoken_with_a_wrong_password_raises_with_the_saphety_code(self) -> None:
        with self.assertRaises(SaphetyError) as caught:
            APIClient(self.origin).gettoken(EMAIL, "wrong-password")
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.codes, ["IdentificationDoesNotMatch"])


class Transport(unittest.TestCase):
    def test_plain_http_to_another_host_is_refused_unless_allowed(self) -> None:
        for url in ("http://api.example.com", "http://10.0.0.5:8000", "http://localhost.evil.com"):
            with self.assertRaises(InsecureTransport, msg=url):
                APIClient(url, USER, PASSWORD)
        APIClient("http://api.example.com", USER, PASSWORD, allow_insecure_http=True)
        for url in ("https://api.example.com", "http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000"):
            APIClient(url, USER, PASSWORD)
        with self.assertRaises(ValueError):
            APIClient("ftp://api.example.com")

    def test_no_session_and_no_credentials_is_session_expired_without_a_request(self) -> None:
        with self.assertRaises(SessionExpired):
            APIClient("http://127.0.0.1:9").get_headers()


if __name__ == "__main__":
    unittest.main()


class MachineClients(ServiceTest):
    def register(self, metadata: Dict[str, object]) -> str:
        login = post(self.origin, "/auth/login", {"username": USER, "password": PASSWORD})
        self.admin = login["datos"]["accessToken"]
        created = post(self.origin, "/admin/clients", metadata, self.admin)
        self.assertTrue(created["exito"], created)
        return created["datos"]["client_secret"]

    def test_fifty_threads_share_one_token_a_new_one_comes_near_expiry_and_none_once_disabled(self) -> None:
        import requests

        secret = self.register(
            {"client_id": "py-reports", "client_name": "Reports", "grant_types": ["client_credentials"],
             "scope": "solicitud:read solicitud:write"}
        )
        clock = Clock()
        client = ClientCredentialsClient(self.origin, "py-reports", secret, scope="solicitud:read", clock=clock)
        barrier = threading.Barrier(50)
        statuses: List[int] = []
        errors: List[BaseException] = []

        def call() -> None:
            try:
                barrier.wait()
                statuses.append(client.get("/solicitud/").status_code)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=call) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(statuses, [200] * 50)
        self.assertEqual(self.service.requests("POST", "/oauth2/token", 200), 1)
        # Read-only, as asked.
        self.assertEqual(client.post("/solicitud/", {"origen": "A"}).status_code, 403)
        first = client.access_token
        clock.offset = 56 * 60
        self.assertEqual(client.get("/solicitud/").status_code, 200)
        self.assertNotEqual(client.access_token, first)
        self.assertEqual(self.service.requests("POST", "/oauth2/token", 200), 2)
        # client_secret_post, for a client registered with it.
        poster_secret = self.register(
            {"client_id": "py-poster", "client_name": "Poster", "grant_types": ["client_credentials"],
             "token_endpoint_auth_method": "client_secret_post"}
        )
        poster = ClientCredentialsClient(self.origin, "py-poster", poster_secret, auth_method="client_secret_post")
        self.assertEqual(poster.get("/solicitud/").status_code, 200)
        # Disabled: its token is refused and no new one is given.
        r = requests.patch(
            f"{self.origin}/admin/clients/py-reports", json={"active": False},
            headers={"Authorization": f"Bearer {self.admin}"}, timeout=10,
        )
        self.assertEqual(r.status_code, 200)
        with self.assertRaises(AuthError) as refused:
            client.get("/solicitud/")
        self.assertEqual((refused.exception.status, refused.exception.codigo), (401, "invalid_client"))
        with self.assertRaises(AuthError) as wrong:
            ClientCredentialsClient(self.origin, "py-poster", "wrong", auth_method="client_secret_post").fetch_token()
        self.assertEqual(wrong.exception.codigo, "invalid_client")
        with self.assertRaises(InsecureTransport):
            ClientCredentialsClient("http://auth.example", "x", "y")
