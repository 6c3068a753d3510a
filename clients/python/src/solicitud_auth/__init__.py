"""A client for the Solicitud Transporte identity provider that stays logged in.

It keeps the names of the JWT guide's ``APIClient`` (``login``, ``refresh_access_token``,
``get_headers``, ``get``, ``post``, the 5-minute buffer), so migrating is changing one import::

    from solicitud_auth import APIClient

What it does that the guide's client does not:

- stores every rotated refresh token (the guide keeps the first one forever, so its second refresh,
  an hour later, presents a dead token: the service takes that for theft and revokes the session);
- refreshes once for any number of threads that find the access token near its expiry;
- retries, once, a refresh whose response was lost (the service answers the retry with the same pair
  inside its retry grace);
- logs in again when the session was revoked or expired and it holds the credentials, else raises
  :class:`SessionExpired`;
- handles the MFA step (an ``mfa_code`` callback, or :meth:`APIClient.verify_mfa`);
- refuses plain HTTP to a host other than this machine unless ``allow_insecure_http=True``;
- never logs a token; keeps them in a pluggable :class:`TokenStorage` (memory by default);
- speaks the Saphety-compatible ``POST /v2/auth/gettoken`` (:meth:`APIClient.gettoken`);
- and, for a backend with an OAuth 2.0 client of its own, :class:`ClientCredentialsClient`: the
  ``client_credentials`` token cached until shortly before it expires and fetched once for all threads.
"""

from ._client import (
    APIClient,
    AuthError,
    ClientCredentialsClient,
    InsecureTransport,
    InvalidCredentials,
    MemoryStorage,
    MfaInvalid,
    MfaRequired,
    RateLimited,
    SaphetyError,
    SaphetyToken,
    SessionExpired,
    TokenStorage,
    Tokens,
)

__all__ = [
    "APIClient",
    "AuthError",
    "ClientCredentialsClient",
    "InsecureTransport",
    "InvalidCredentials",
    "MemoryStorage",
    "MfaInvalid",
    "MfaRequired",
    "RateLimited",
    "SaphetyError",
    "SaphetyToken",
    "SessionExpired",
    "TokenStorage",
    "Tokens",
]
