"""Schemathesis hooks for run.sh: `accepted_unless_refused_for_a_reason`, which replaces the built-in
`positive_data_acceptance`.

The built-in check wants every schema-valid request answered 2xx/401/403/404. Ours answer some
schema-valid requests with a documented refusal that is about the request's meaning, not its shape:
wrong credentials (422 INVALID_CREDENTIALS, gettoken's IdentificationDoesNotMatch), a wrong MFA code,
a request already decided (409), a service date in the past (a JSON Schema cannot say "not in the
past"), a rate limit, a common password, a set-password token that is not (or no longer) good. This check fails exactly when schema-valid data is refused *for its shape*:
400 BAD_REQUEST, 413, 422 VALIDATION_ERROR (but for fechaServicio's value rules), or a gettoken field
error (Required, InvalidValue, TooLong, Duplicate, InvalidRequest).
"""

import json

import schemathesis
from schemathesis.specs.openapi.checks import is_unexpected_http_status_case

SHAPE_CODIGOS = {"BAD_REQUEST", "VALIDATION_ERROR", "PAYLOAD_TOO_LARGE"}
SHAPE_SAPHETY_CODES = {"Required", "InvalidValue", "TooLong", "Duplicate", "InvalidRequest"}


def refused_for_shape(body):
    """Why the body says the request's shape was refused, or None."""
    if not isinstance(body, dict):
        return None
    codigo = body.get("codigo")
    if codigo in SHAPE_CODIGOS:
        detalle = str(body.get("detalle", ""))
        # fechaServicio's value rules (not in the past, before the year 3000) are not shape; its
        # format (RFC 3339) is.
        if codigo == "VALIDATION_ERROR" and "'fechaServicio'" in detalle and "RFC 3339" not in detalle:
            return None
        # A new password that is one of the common ones (a list no schema can hold), and a
        # set-password token that is not the user's current one, are about meaning, not shape.
        if codigo == "VALIDATION_ERROR" and (
            "(common_password)" in detalle or "token para establecer la contraseña" in detalle
        ):
            return None
        # An OAuth client's rules between fields (authorization_code needs a redirect URI, a public
        # client has no client_credentials nor a back-channel logout URI, a client keeps its type),
        # which a schema per field cannot say: each refusal names its rule.
        if codigo == "VALIDATION_ERROR" and any(
            f"({rule})" in detalle
            for rule in (
                "redirect_uris_required",
                "public_client_grant",
                "backchannel_public_client",
                "client_type_change",
            )
        ):
            return None
        # A passkey credential is a signed structure (CBOR, signatures) no schema can describe, and
        # answers a ceremony only the store knows; the second step takes a code or a passkey, one;
        # passkey options take a username or an MFA token, not both. Each refusal names its rule.
        if codigo == "VALIDATION_ERROR" and any(
            f"({rule})" in detalle
            for rule in ("webauthn_credential", "one_second_factor", "username_or_mfa_token")
        ):
            return None
        return f"{codigo}: {detalle}"
    errors = body.get("Errors")
    if isinstance(errors, list):
        for e in errors:
            if isinstance(e, dict) and e.get("Code") in SHAPE_SAPHETY_CODES:
                return f"{e.get('Code')} ({e.get('Field')}): {e.get('Description')}"
    return None


@schemathesis.check
def accepted_unless_refused_for_a_reason(ctx, response, case):
    if case.meta is None or is_unexpected_http_status_case(case):
        return True
    if not case.meta.generation.mode.is_positive or response.status_code not in (400, 413, 422):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    reason = refused_for_shape(body)
    if reason is not None:
        raise AssertionError(
            f"Schema-valid data refused for its shape: {response.status_code} {reason}"
        )
    return None
