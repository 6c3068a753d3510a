"""Client credentials with Authlib's OAuth2Session, as its documentation shows: discovery first, then
fetch_token. Prints one JSON line per case."""
import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError

issuer, secret = sys.argv[1], sys.argv[2]
meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == issuer, meta
token_endpoint = meta["token_endpoint"]


def fetch(client_id, client_secret, method="client_secret_basic", scope=None):
    session = OAuth2Session(client_id, client_secret, scope=scope, token_endpoint_auth_method=method)
    try:
        token = session.fetch_token(token_endpoint, grant_type="client_credentials")
        return {"access_token": token["access_token"], "scope": token.get("scope"),
                "expires_in": token.get("expires_in"), "token_type": token.get("token_type")}
    except OAuthError as e:
        return {"error": e.error}


cases = {
    "basic": fetch("reports", secret),
    "post": fetch("poster", secret, method="client_secret_post"),
    "narrowed": fetch("poster", secret, method="client_secret_post", scope="solicitud:read"),
    "wrong_secret": fetch("reports", "not-the-secret"),
    "unknown_client": fetch("nobody", secret),
    "scope_not_allowed": fetch("reports", secret, scope="solicitud:admin"),
}
print(json.dumps(cases))
