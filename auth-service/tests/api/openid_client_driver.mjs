// A relying party written with openid-client (a certified OpenID Connect library), driven by
// `tests/api/openid_client.rs`. The issuer is http://localhost:8000; the service under test listens
// elsewhere, so every request the library makes goes there through its `customFetch` hook (the
// library still sees, and checks, the issuer and endpoint URLs the discovery document names).
//
//   node driver.mjs start  <real-base> <client_id> <client_secret> <redirect_uri>
//     -> {"url", "verifier", "nonce", "state"}: the authorization URL with PKCE, for the browser
//   node driver.mjs finish <real-base> <client_id> <client_secret> <state.json> <callback-url>
//     -> {"claims", "userinfo", "refreshed", "revoked"}: the code exchange (ID token validated,
//        its signature checked against the JWKS), userinfo, a refresh, a revocation
import * as client from "openid-client";
import { readFileSync } from "node:fs";

const ISSUER = "http://localhost:8000";
const [mode, realBase, clientId, clientSecret, ...rest] = process.argv.slice(2);

const redirected = (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  const target = url.startsWith(ISSUER) ? realBase + url.slice(ISSUER.length) : url;
  return input instanceof Request ? fetch(new Request(target, input), init) : fetch(target, init);
};

const config = await client.discovery(
  new URL(ISSUER),
  clientId,
  clientSecret,
  client.ClientSecretBasic(clientSecret),
  {
    [client.customFetch]: redirected,
    // http:// is this test's localhost; enableNonRepudiationChecks verifies ID token signatures
    // against the server's JWKS.
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  },
);

if (mode === "start") {
  const [redirectUri] = rest;
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid profile email",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    nonce,
    state,
  });
  console.log(JSON.stringify({ url: url.href, verifier, nonce, state }));
} else if (mode === "finish") {
  const [stateFile, callback] = rest;
  const saved = JSON.parse(readFileSync(stateFile, "utf8"));
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: saved.verifier,
    expectedNonce: saved.nonce,
    expectedState: saved.state,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  await client.tokenRevocation(config, refreshed.access_token);
  let revoked;
  try {
    await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    revoked = "still accepted";
  } catch (e) {
    revoked = `refused: ${e.status ?? ""} ${e.code ?? e.name}`;
  }
  console.log(
    JSON.stringify({
      claims,
      userinfo,
      refreshed: { scope: refreshed.scope, has_refresh_token: Boolean(refreshed.refresh_token) },
      revoked,
    }),
  );
} else {
  throw new Error(`unknown mode ${mode}`);
}
