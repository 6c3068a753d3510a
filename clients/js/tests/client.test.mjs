// The JavaScript client against the real system (the all-in-one binary, one per test):
// `node --test clients/js/tests/`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
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
} from '../index.js';
import { EMAIL, PASSWORD, USER, enrolMfa, lossyProxy, post, startService } from './support.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The client's clock, which a test moves forward (time travel without waiting). */
function clock() {
  const c = { offset: 0 };
  c.now = () => Date.now() + c.offset;
  return c;
}

/** A storage that remembers every pair it was given: what an app persisting the session sees. */
class Recording extends MemoryStorage {
  saved = [];
  async save(tokens) {
    this.saved.push(tokens);
    super.save(tokens);
  }
}

test('fifty concurrent calls inside the buffer share one refresh and all succeed', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const c = clock();
  const storage = new Recording();
  const client = new APIClient(service.origin, USER, PASSWORD, { storage, now: c.now });
  assert.equal(await client.login(), true);
  const first = client.refreshToken;
  c.offset = 56 * 60 * 1000; // four minutes left: inside the 5-minute buffer
  const responses = await Promise.all(Array.from({ length: 50 }, () => client.get('/solicitud/')));
  assert.deepEqual(
    responses.map((r) => r.status),
    Array(50).fill(200),
  );
  assert.equal(await service.requests('POST', '/auth/refresh'), 1);
  assert.equal(await service.requests('POST', '/auth/refresh', 200), 1);
  assert.notEqual(client.refreshToken, first);
  assert.equal(storage.saved.length, 2);
  assert.equal(storage.saved[1].refreshToken, client.refreshToken);
});

test('a lost refresh response is retried once and gets the same pair', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const proxy = await lossyProxy(t, service.origin, '/auth/refresh');
  const client = new APIClient(proxy.origin, USER, PASSWORD);
  await client.login();
  assert.equal(await client.refreshAccessToken(), true);
  assert.equal(proxy.dropped.length, 1);
  const lost = proxy.dropped[0].datos;
  assert.deepEqual([client.accessToken, client.refreshToken], [lost.accessToken, lost.refreshToken]);
  assert.equal(await service.requests('POST', '/auth/refresh', 200), 2);
  assert.equal(await service.reuseDetected(), false);
  assert.equal((await client.get('/solicitud/')).status, 200);
  await client.refreshAccessToken();
  assert.equal((await client.get('/solicitud/')).status, 200);
});

test('a second refresh after the grace is not reuse', async (t) => {
  const service = await startService(t, { JWT_REFRESH_RETRY_GRACE_SECONDS: '1' });
  if (!service) return;
  const client = new APIClient(service.origin, USER, PASSWORD);
  await client.login();
  await client.refreshAccessToken();
  await sleep(2200);
  assert.equal(await client.refreshAccessToken(), true);
  assert.equal(await service.requests('POST', '/auth/refresh', 200), 2);
  assert.equal(await service.requests('POST', '/auth/login', 200), 1);
  assert.equal(await service.reuseDetected(), false);
  assert.equal((await client.get('/solicitud/')).status, 200);
});

test('a refresh the service takes for reuse throws SessionExpired without credentials', async (t) => {
  const service = await startService(t, { JWT_REFRESH_RETRY_GRACE_SECONDS: '0' });
  if (!service) return;
  const client = new APIClient(service.origin, USER, PASSWORD);
  await client.login();
  const stale = { accessToken: client.accessToken, refreshToken: client.refreshToken, expiresAt: Date.now() + 3600e3 };
  await client.refreshAccessToken();
  const holder = new APIClient(service.origin, null, null, { storage: new MemoryStorage(stale) });
  await assert.rejects(holder.refreshAccessToken(), (e) => e instanceof SessionExpired && e.codigo === 'TOKEN_REVOKED');
  assert.equal(holder.accessToken, null);
});

async function logoutAllElsewhere(origin) {
  const other = new APIClient(origin, USER, PASSWORD);
  await other.login();
  assert.equal((await other.post('/auth/logout-all')).status, 200);
}

test('after a logout elsewhere the next call logs in again with credentials', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const client = new APIClient(service.origin, USER, PASSWORD);
  await client.login();
  const before = client.accessToken;
  await logoutAllElsewhere(service.origin);
  assert.equal((await client.get('/solicitud/')).status, 200);
  assert.notEqual(client.accessToken, before);
  assert.equal(await service.requests('POST', '/auth/login', 200), 3);
});

test('after a logout elsewhere the next call throws SessionExpired without credentials', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const seeded = new APIClient(service.origin, USER, PASSWORD);
  await seeded.login();
  const storage = new MemoryStorage({
    accessToken: seeded.accessToken,
    refreshToken: seeded.refreshToken,
    expiresAt: Date.now() + 3600e3,
  });
  const client = new APIClient(service.origin, null, null, { storage });
  assert.equal((await client.get('/solicitud/')).status, 200);
  await logoutAllElsewhere(service.origin);
  await assert.rejects(client.get('/solicitud/'), (e) => e instanceof SessionExpired && e.codigo === 'TOKEN_REVOKED');
  assert.equal(storage.load(), null);
});

test('a stored session resumes in a new client and keeps rotating', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const storage = new Recording();
  await new APIClient(service.origin, USER, PASSWORD, { storage }).login();
  const resumed = new APIClient(service.origin, null, null, { storage });
  await resumed.refreshAccessToken();
  assert.equal((await resumed.get('/solicitud/')).status, 200);
  assert.equal(storage.saved.length, 2);
  assert.notEqual(storage.saved[0].refreshToken, storage.saved[1].refreshToken);
});

test('the MFA code callback is used once for the login', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const app = await enrolMfa(service.origin);
  let calls = 0;
  const c = clock();
  const client = new APIClient(service.origin, USER, PASSWORD, {
    now: c.now,
    mfaCode: async () => {
      calls += 1;
      return app.code();
    },
  });
  assert.equal((await client.get('/solicitud/')).status, 200);
  c.offset = 56 * 60 * 1000;
  assert.equal((await client.get('/solicitud/')).status, 200);
  assert.equal(calls, 1);
  assert.equal(await service.requests('POST', '/auth/mfa/verify', 200), 1);
  assert.equal(await service.requests('POST', '/auth/refresh', 200), 1);
});

test('without a callback login throws MfaRequired and verifyMfa finishes it', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const app = await enrolMfa(service.origin);
  const client = new APIClient(service.origin, USER, PASSWORD);
  await assert.rejects(client.login(), MfaRequired);
  assert.equal(client.mfaPending, true);
  const code = app.code();
  await assert.rejects(client.verifyMfa(code === '000000' ? '111111' : '000000'), MfaInvalid);
  assert.equal(await client.verifyMfa(code), true);
  assert.equal(client.mfaPending, false);
  assert.equal((await client.get('/solicitud/')).status, 200);
});

test('wrong credentials throw InvalidCredentials', async (t) => {
  const service = await startService(t);
  if (!service) return;
  await assert.rejects(
    new APIClient(service.origin, USER, 'wrong-password').login(),
    (e) => e instanceof InvalidCredentials && e.status === 422 && e.codigo === 'INVALID_CREDENTIALS',
  );
});

test('no token reaches the log or a serialisation of the client', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const lines = [];
  const client = new APIClient(service.origin, USER, PASSWORD, { logger: (l) => lines.push(l) });
  await client.login();
  const seen = [client.accessToken, client.refreshToken];
  await client.refreshAccessToken();
  seen.push(client.accessToken, client.refreshToken);
  await client.get('/solicitud/');
  const text = lines.join('\n') + JSON.stringify(client) + String(client);
  assert.match(text, /\/auth\/refresh/);
  for (const token of seen) {
    assert.ok(token);
    assert.ok(!text.includes(token.slice(-20)));
  }
});

test('gettoken gives a token the API accepts, and the Saphety code when refused', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const client = new APIClient(service.origin);
  const token = await client.gettoken(EMAIL, PASSWORD);
  assert.equal(token.tokenType, 'bearer');
  assert.equal(token.virtualOperatorAlias, 'saphety');
  const r = await fetch(`${service.origin}/solicitud/`, { headers: { Authorization: `Bearer ${token.accessToken}` } });
  assert.equal(r.status, 200);
  await assert.rejects(
    client.gettoken(EMAIL, 'wrong-password'),
    (e) => e instanceof SaphetyError && e.status === 400 && e.codes.join() === 'IdentificationDoesNotMatch',
  );
});

test('plain HTTP to another host is refused unless allowed', () => {
  for (const url of ['http://api.example.com', 'http://10.0.0.5:8000', 'http://localhost.evil.com']) {
    assert.throws(() => new APIClient(url, USER, PASSWORD), InsecureTransport, url);
  }
  new APIClient('http://api.example.com', USER, PASSWORD, { allowInsecureHttp: true });
  for (const url of ['https://api.example.com', 'http://localhost:8000', 'http://127.0.0.1:8000', 'http://[::1]:8000']) {
    new APIClient(url, USER, PASSWORD);
  }
  assert.throws(() => new APIClient('ftp://api.example.com'), TypeError);
});

test('no session and no credentials is SessionExpired without a request', async () => {
  let fetched = 0;
  const client = new APIClient('http://127.0.0.1:9', null, null, { fetch: () => fetched++ });
  await assert.rejects(client.getHeaders(), SessionExpired);
  assert.equal(fetched, 0);
});

/** Registers a machine client through the admin API; its secret. */
async function registerClient(origin, metadata) {
  const login = await post(origin, '/auth/login', { username: USER, password: PASSWORD });
  const created = await post(origin, '/admin/clients', metadata, login.datos.accessToken);
  assert.equal(created.exito, true, JSON.stringify(created));
  return { secret: created.datos.client_secret, admin: login.datos.accessToken };
}

test('a machine client gets one token for fifty concurrent calls, a new one near its expiry, and none once disabled', async (t) => {
  const service = await startService(t);
  if (!service) return;
  const { secret, admin } = await registerClient(service.origin, {
    client_id: 'js-reports',
    client_name: 'Reports',
    grant_types: ['client_credentials'],
    scope: 'solicitud:read solicitud:write',
  });
  const c = clock();
  const client = new ClientCredentialsClient(service.origin, 'js-reports', secret, { scope: 'solicitud:read', now: c.now });
  const responses = await Promise.all(Array.from({ length: 50 }, () => client.get('/solicitud/')));
  assert.deepEqual(responses.map((r) => r.status), Array(50).fill(200));
  assert.equal(await service.requests('POST', '/oauth2/token', 200), 1);
  // Read-only, as asked: a create is refused.
  const created = await client.post('/solicitud/', {
    origen: 'A', destino: 'B', fechaServicio: '2099-01-01T08:00:00Z', pasajeros: 1, motivo: 'm',
  });
  assert.equal(created.status, 403);
  // Inside the buffer of its expiry: a new token, once.
  const first = client.accessToken;
  c.offset = 56 * 60 * 1000;
  await Promise.all(Array.from({ length: 10 }, () => client.get('/solicitud/')));
  assert.notEqual(client.accessToken, first);
  assert.equal(await service.requests('POST', '/oauth2/token', 200), 2);
  // The form method, as a client registered for it uses.
  const { secret: postSecret } = await registerClient(service.origin, {
    client_id: 'js-poster', client_name: 'Poster', grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_post',
  });
  const poster = new ClientCredentialsClient(service.origin, 'js-poster', postSecret, { authMethod: 'client_secret_post' });
  assert.equal((await poster.get('/solicitud/')).status, 200);
  // Disabled: its token is refused, and the token endpoint refuses it a new one.
  const r = await fetch(`${service.origin}/admin/clients/js-reports`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ active: false }),
  });
  assert.equal(r.status, 200);
  await assert.rejects(client.get('/solicitud/'), (e) => e instanceof AuthError && e.codigo === 'invalid_client' && e.status === 401);
  const wrong = new ClientCredentialsClient(service.origin, 'js-poster', 'not-the-secret', { authMethod: 'client_secret_post' });
  await assert.rejects(wrong.fetchToken(), (e) => e instanceof AuthError && e.codigo === 'invalid_client');
  assert.throws(() => new ClientCredentialsClient('http://auth.example', 'x', 'y'), InsecureTransport);
});
