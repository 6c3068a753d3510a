// A client for the Solicitud Transporte identity provider that stays logged in, for Node >= 18 and
// browsers (fetch only, no dependencies). It keeps the names of the JWT guide's `APIClient` (`login`,
// `refreshAccessToken`, `getHeaders`, `get`, `post`, the 5-minute buffer), so migrating is changing one
// import. Unlike the guide's client it stores every rotated refresh token, refreshes once for any number
// of concurrent callers, retries once a refresh whose response was lost, logs in again (or throws
// `SessionExpired`) when the session is over, handles the MFA step, refuses plain HTTP to another
// machine unless told to, never logs a token, keeps tokens in a pluggable storage, and speaks
// `POST /v2/auth/gettoken`.

/** Refresh when the access token has less than this left (the guide's 5-minute buffer). */
export const REFRESH_BUFFER_MS = 5 * 60 * 1000;

const SESSION_OVER = new Set(['TOKEN_REVOKED', 'TOKEN_EXPIRED']);

/** The service refused an authentication step; `status` and `codigo` say how. */
export class AuthError extends Error {
  constructor(message, { status = null, codigo = null } = {}) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.codigo = codigo;
  }
}

/** The session was revoked or expired and the client holds no credentials to log in again. */
export class SessionExpired extends AuthError {}
/** Wrong user or password (422 INVALID_CREDENTIALS). */
export class InvalidCredentials extends AuthError {}
/** The user has MFA on: call `verifyMfa(code)`, or give the client an `mfaCode` callback. */
export class MfaRequired extends AuthError {}
/** A wrong, reused or expired MFA code (422 MFA_INVALID). */
export class MfaInvalid extends AuthError {}

/** Too many attempts (429); `retryAfter` is the service's `Retry-After` in seconds. */
export class RateLimited extends AuthError {
  constructor(message, { retryAfter = null, status = 429, codigo = null } = {}) {
    super(message, { status, codigo });
    this.retryAfter = retryAfter;
  }
}

/** `/v2/auth/gettoken` answered `IsValid: false`; `codes` are its `Errors[].Code`. */
export class SaphetyError extends AuthError {
  constructor(message, { status, codes }) {
    super(message, { status, codigo: codes[0] ?? null });
    this.codes = codes;
  }
}

/** Tokens would travel over plain HTTP to another machine; pass `allowInsecureHttp: true` to accept it. */
export class InsecureTransport extends Error {
  constructor(message) {
    super(message);
    this.name = 'InsecureTransport';
  }
}

/** The default storage: the session lives as long as the client object. */
export class MemoryStorage {
  #tokens;
  constructor(tokens = null) {
    this.#tokens = tokens;
  }
  load() {
    return this.#tokens;
  }
  save(tokens) {
    this.#tokens = tokens;
  }
  clear() {
    this.#tokens = null;
  }
}

function isLoopback(hostname) {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

async function readJson(response) {
  try {
    const body = await response.json();
    return body && typeof body === 'object' ? body : {};
  } catch {
    return {};
  }
}

function retryAfter(response) {
  const n = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  return Number.isNaN(n) ? null : n;
}

/** A session with the identity provider and authenticated calls to the APIs behind it. */
export class APIClient {
  #password;
  #storage;
  #mfaCode;
  #fetch;
  #now;
  #buffer;
  #logger;
  #tokens = undefined; // undefined: not read from the storage yet
  #flight = null;
  #mfaToken = null;

  /**
   * `username`/`password` are optional: without them the client works from a stored session and
   * throws `SessionExpired` when it ends.
   */
  constructor(baseURL, username = null, password = null, options = {}) {
    const url = new URL(baseURL);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`baseURL must be an http(s) URL, got ${baseURL}`);
    }
    if (url.protocol === 'http:' && !options.allowInsecureHttp && !isLoopback(url.hostname)) {
      throw new InsecureTransport(
        `refusing to send tokens over plain HTTP to ${url.hostname}: use https, or pass allowInsecureHttp: true`,
      );
    }
    this.baseURL = baseURL.replace(/\/+$/, '');
    this.username = username;
    this.#password = password;
    this.#storage = options.storage ?? new MemoryStorage();
    this.#mfaCode = options.mfaCode ?? null;
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.#now = options.now ?? Date.now;
    this.#buffer = options.refreshBufferMs ?? REFRESH_BUFFER_MS;
    this.#logger = options.logger ?? null;
  }

  // The guide's fields, read-only views of the session (after the first call has read the storage).
  get accessToken() {
    return this.#tokens?.accessToken ?? null;
  }
  get refreshToken() {
    return this.#tokens?.refreshToken ?? null;
  }
  get tokenExpiry() {
    return this.#tokens?.expiresAt ?? null;
  }
  /** True between a login that answered `mfaRequired` and `verifyMfa`. */
  get mfaPending() {
    return this.#mfaToken !== null;
  }

  toJSON() {
    return { baseURL: this.baseURL, username: this.username };
  }

  /**
   * Logs in with the credentials; true once a session is stored. Throws `MfaRequired` when the user
   * has MFA on and there is no `mfaCode` callback (finish with `verifyMfa`), `InvalidCredentials`,
   * `RateLimited`.
   */
  async login() {
    await this.#ready();
    await this.#login();
    return true;
  }

  /** Finishes a login that answered `mfaRequired` with a TOTP or recovery code. */
  async verifyMfa(code) {
    if (this.#mfaToken === null) throw new AuthError('no MFA step is pending: call login() first');
    await this.#ready();
    await this.#verifyMfa(code);
    return true;
  }

  /**
   * Rotates the session now (sharing a refresh already in progress); true once a new pair is stored.
   * When the session is over it logs in again if it can, else throws `SessionExpired`.
   */
  async refreshAccessToken() {
    await this.#refresh(null);
    return true;
  }

  /** The guide's headers with an access token that has more than the buffer left. */
  async getHeaders() {
    await this.#ready();
    const tokens = this.#tokens;
    if (!tokens) {
      await this.#refresh(null);
    } else if (this.#now() >= tokens.expiresAt - this.#buffer) {
      await this.#refresh(tokens.accessToken);
    }
    if (!this.#tokens) throw new SessionExpired('no session');
    return { Authorization: `Bearer ${this.#tokens.accessToken}`, 'Content-Type': 'application/json' };
  }

  /**
   * An authenticated call. A 401 that says the token expired or was revoked gets one refresh (or a
   * new login) and one retry.
   */
  async request(method, endpoint, init = {}) {
    const send = async () => {
      const headers = { ...(await this.getHeaders()), ...(init.headers ?? {}) };
      const response = await this.#fetch(`${this.baseURL}${endpoint}`, { ...init, method, headers });
      this.#log(`${method} ${endpoint} -> ${response.status}`);
      return { response, used: headers.Authorization.slice('Bearer '.length) };
    };
    const { response, used } = await send();
    if (response.status === 401) {
      const body = await readJson(response.clone());
      if (SESSION_OVER.has(body.codigo)) {
        await this.#refresh(used);
        return (await send()).response;
      }
    }
    return response;
  }

  /** Authenticated GET, as in the guide. */
  get(endpoint, init = {}) {
    return this.request('GET', endpoint, init);
  }

  /** Authenticated POST of `data` as JSON, as in the guide. */
  post(endpoint, data, init = {}) {
    return this.request('POST', endpoint, { ...init, body: data === undefined ? undefined : JSON.stringify(data) });
  }

  /** Ends this session at the service and forgets it here. */
  async logout() {
    await this.#ready();
    if (this.#tokens) {
      await this.#fetch(`${this.baseURL}/auth/logout`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.#tokens.accessToken}` },
      });
    }
    await this.#clear();
  }

  /**
   * `POST /v2/auth/gettoken` (`username` is the user's e-mail): an access token for integrators of
   * the Saphety API. Throws `SaphetyError` with the service's codes, or `RateLimited`.
   */
  async gettoken(username, password, virtualOperator = 'saphety', otp = undefined) {
    const payload = { username, password, virtual_operator: virtualOperator };
    if (otp !== undefined) payload.otp = otp;
    const response = await this.#postJson('/v2/auth/gettoken', payload);
    const body = await readJson(response);
    const data = body.ResultData ?? {};
    if (response.status === 200 && body.IsValid && data.access_token) {
      return {
        accessToken: data.access_token,
        expires: data.expires,
        tokenType: data.token_type,
        virtualOperatorAlias: data.virtual_operator_alias ?? null,
      };
    }
    const codes = (body.Errors ?? []).map((e) => e?.Code).filter(Boolean);
    if (response.status === 429) {
      throw new RateLimited('too many attempts', { retryAfter: retryAfter(response), codigo: codes[0] ?? null });
    }
    throw new SaphetyError(`gettoken refused: ${codes.join(', ') || response.status}`, {
      status: response.status,
      codes,
    });
  }

  // --- internals ---

  async #ready() {
    if (this.#tokens === undefined) {
      const stored = await this.#storage.load();
      if (this.#tokens === undefined) this.#tokens = stored ?? null;
    }
  }

  async #save(tokens) {
    this.#tokens = tokens;
    await this.#storage.save(tokens);
  }

  async #clear() {
    this.#tokens = null;
    await this.#storage.clear();
  }

  /** Single flight: one refresh at a time, every concurrent caller awaits the same one. */
  async #refresh(staleAccess) {
    await this.#ready();
    if (this.#flight) return this.#flight;
    if (staleAccess !== null && this.#tokens && this.#tokens.accessToken !== staleAccess) return undefined;
    this.#flight = this.#rotate().finally(() => {
      this.#flight = null;
    });
    return this.#flight;
  }

  async #rotate() {
    const tokens = this.#tokens;
    if (!tokens?.refreshToken) {
      await this.#login();
      return;
    }
    let started = this.#now();
    let response;
    try {
      response = await this.#postJson('/auth/refresh', { refreshToken: tokens.refreshToken });
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      // The answer may have been lost after the service rotated: inside its retry grace the same
      // token gets the same pair again, so one retry is safe and keeps the session.
      this.#log('refresh: no answer, retrying once');
      started = this.#now();
      response = await this.#postJson('/auth/refresh', { refreshToken: tokens.refreshToken });
    }
    const body = await readJson(response);
    if (response.status === 401 && SESSION_OVER.has(body.codigo)) {
      this.#log(`refresh: session over (${body.codigo})`);
      await this.#clear();
      if (this.username === null || this.#password === null) {
        throw new SessionExpired(body.mensaje ?? 'session over', { status: 401, codigo: body.codigo });
      }
      await this.#login();
      return;
    }
    await this.#storePair(response, body, started);
  }

  async #login() {
    if (this.username === null || this.#password === null) {
      throw new SessionExpired('no session and no credentials to log in with');
    }
    const started = this.#now();
    const response = await this.#postJson('/auth/login', { username: this.username, password: this.#password });
    const body = await readJson(response);
    if (response.status === 200 && body.exito && body.datos?.mfaRequired) {
      this.#mfaToken = body.datos.mfaToken;
      if (!this.#mfaCode) {
        throw new MfaRequired('this user has MFA on: call verifyMfa(code)', { status: 200, codigo: 'MFA_REQUIRED' });
      }
      await this.#verifyMfa(await this.#mfaCode());
      return;
    }
    await this.#storePair(response, body, started);
  }

  async #verifyMfa(code) {
    const started = this.#now();
    const response = await this.#postJson('/auth/mfa/verify', { mfaToken: this.#mfaToken, code });
    const body = await readJson(response);
    if (response.status === 200 && body.exito) this.#mfaToken = null;
    await this.#storePair(response, body, started);
  }

  async #storePair(response, body, started) {
    const d = body.datos;
    if (response.status === 200 && body.exito && d?.accessToken) {
      await this.#save({
        accessToken: d.accessToken,
        refreshToken: d.refreshToken ?? null,
        expiresAt: started + d.expiresIn * 1000,
      });
      return;
    }
    const message = body.mensaje ?? `HTTP ${response.status}`;
    const detail = { status: response.status, codigo: body.codigo ?? null };
    if (response.status === 429) throw new RateLimited(message, { ...detail, retryAfter: retryAfter(response) });
    if (body.codigo === 'INVALID_CREDENTIALS') throw new InvalidCredentials(message, detail);
    if (body.codigo === 'MFA_INVALID') throw new MfaInvalid(message, detail);
    if (response.status === 401 && SESSION_OVER.has(body.codigo)) throw new SessionExpired(message, detail);
    throw new AuthError(message, detail);
  }

  async #postJson(path, payload) {
    const response = await this.#fetch(`${this.baseURL}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(payload),
    });
    this.#log(`POST ${path} -> ${response.status}`);
    return response;
  }

  /** Only methods, paths, statuses and codes: never a token. */
  #log(message) {
    this.#logger?.(message);
  }
}

/**
 * A machine client's session: OAuth 2.0 `client_credentials` at `/oauth2/token` (HTTP Basic, or the
 * form with `authMethod: 'client_secret_post'`). The token is kept until shortly before it expires
 * (the guide's 5-minute buffer, or half its life if that is shorter) and renewed once for any number
 * of concurrent callers; a 401 that says it expired or was revoked gets one new token and one retry.
 * The same `getHeaders`, `request`, `get` and `post` as `APIClient`. Never logs the secret or a token.
 */
export class ClientCredentialsClient {
  #secret;
  #fetch;
  #now;
  #buffer;
  #logger;
  #token = null; // { accessToken, expiresAt, scope }
  #flight = null;

  constructor(baseURL, clientId, clientSecret, options = {}) {
    const url = new URL(baseURL);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`baseURL must be an http(s) URL, got ${baseURL}`);
    }
    if (url.protocol === 'http:' && !options.allowInsecureHttp && !isLoopback(url.hostname)) {
      throw new InsecureTransport(
        `refusing to send a client secret over plain HTTP to ${url.hostname}: use https, or pass allowInsecureHttp: true`,
      );
    }
    this.baseURL = baseURL.replace(/\/+$/, '');
    this.clientId = clientId;
    this.#secret = clientSecret;
    this.scope = options.scope ?? null;
    this.authMethod = options.authMethod ?? 'client_secret_basic';
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.#now = options.now ?? Date.now;
    this.#buffer = options.refreshBufferMs ?? REFRESH_BUFFER_MS;
    this.#logger = options.logger ?? null;
  }

  get accessToken() {
    return this.#token?.accessToken ?? null;
  }

  toJSON() {
    return { baseURL: this.baseURL, clientId: this.clientId };
  }

  /** Headers with a token that has more than the buffer left (a new one first if needed). */
  async getHeaders() {
    const token = this.#token;
    if (!token || this.#now() >= token.expiresAt - Math.min(this.#buffer, token.lifetimeMs / 2)) {
      await this.#renew(token?.accessToken ?? null);
    }
    return { Authorization: `Bearer ${this.#token.accessToken}`, 'Content-Type': 'application/json' };
  }

  /** Gets a new token now (sharing one already being fetched). */
  async fetchToken() {
    await this.#renew(this.#token?.accessToken ?? null);
    return this.#token.accessToken;
  }

  async request(method, endpoint, init = {}) {
    const send = async () => {
      const headers = { ...(await this.getHeaders()), ...(init.headers ?? {}) };
      const response = await this.#fetch(`${this.baseURL}${endpoint}`, { ...init, method, headers });
      this.#log(`${method} ${endpoint} -> ${response.status}`);
      return { response, used: headers.Authorization.slice('Bearer '.length) };
    };
    const { response, used } = await send();
    if (response.status === 401) {
      const body = await readJson(response.clone());
      if (SESSION_OVER.has(body.codigo)) {
        await this.#renew(used);
        return (await send()).response;
      }
    }
    return response;
  }

  get(endpoint, init = {}) {
    return this.request('GET', endpoint, init);
  }

  post(endpoint, data, init = {}) {
    return this.request('POST', endpoint, { ...init, body: data === undefined ? undefined : JSON.stringify(data) });
  }

  /** Single flight: one token request at a time; a caller holding an older token than the current one
   * just uses the current one. */
  async #renew(stale) {
    if (this.#flight) return this.#flight;
    if (stale !== null && this.#token && this.#token.accessToken !== stale) return undefined;
    this.#flight = this.#fetchToken().finally(() => {
      this.#flight = null;
    });
    return this.#flight;
  }

  async #fetchToken() {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.scope) form.set('scope', this.scope);
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
    if (this.authMethod === 'client_secret_post') {
      form.set('client_id', this.clientId);
      form.set('client_secret', this.#secret);
    } else {
      // RFC 6749 §2.3.1: each part form-encoded before Basic.
      const part = (v) => encodeURIComponent(v).replace(/%20/g, '+');
      headers.Authorization = `Basic ${btoa(`${part(this.clientId)}:${part(this.#secret)}`)}`;
    }
    const started = this.#now();
    const response = await this.#fetch(`${this.baseURL}/oauth2/token`, { method: 'POST', headers, body: form });
    this.#log(`POST /oauth2/token -> ${response.status}`);
    const body = await readJson(response);
    if (response.status === 200 && body.access_token) {
      const lifetimeMs = (body.expires_in ?? 0) * 1000;
      this.#token = { accessToken: body.access_token, expiresAt: started + lifetimeMs, lifetimeMs, scope: body.scope ?? null };
      return;
    }
    const message = body.error_description ?? body.error ?? `HTTP ${response.status}`;
    if (response.status === 429) {
      throw new RateLimited(message, { retryAfter: retryAfter(response), codigo: body.error ?? null });
    }
    throw new AuthError(message, { status: response.status, codigo: body.error ?? null });
  }

  #log(message) {
    this.#logger?.(message);
  }
}
