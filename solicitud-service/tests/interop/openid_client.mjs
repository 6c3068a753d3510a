// Client credentials with openid-client (panva), as its documentation shows: discovery, then
// clientCredentialsGrant. Prints one JSON line of cases.
import * as client from 'openid-client';

const [issuer, secret] = process.argv.slice(2);
// Loopback http in a test; https everywhere else needs no option.
const options = { execute: [client.allowInsecureRequests] };

async function fetch(clientId, auth, parameters) {
  try {
    const config = await client.discovery(new URL(issuer), clientId, undefined, auth, options);
    const tokens = await client.clientCredentialsGrant(config, parameters);
    return { access_token: tokens.access_token, scope: tokens.scope, expires_in: tokens.expires_in, token_type: tokens.token_type };
  } catch (e) {
    // A 401 with WWW-Authenticate comes as a challenge error: the RFC 6749 body is in its response.
    if (e.code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE' && e.response) {
      const body = await e.response.json();
      return { error: body.error, status: e.response.status, challenge: e.cause?.[0]?.scheme };
    }
    return { error: e.error ?? e.code ?? String(e) };
  }
}

const cases = {
  basic: await fetch('reports', client.ClientSecretBasic(secret)),
  post: await fetch('poster', client.ClientSecretPost(secret)),
  narrowed: await fetch('poster', client.ClientSecretPost(secret), { scope: 'solicitud:read' }),
  wrong_secret: await fetch('reports', client.ClientSecretBasic('not-the-secret')),
  unknown_client: await fetch('nobody', client.ClientSecretBasic(secret)),
  scope_not_allowed: await fetch('reports', client.ClientSecretBasic(secret), { scope: 'solicitud:admin' }),
};
console.log(JSON.stringify(cases));
