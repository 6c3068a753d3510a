// Types for solicitud-auth-client (index.js): a client for the Solicitud Transporte identity provider
// that stays logged in.

/** Refresh when the access token has less than this left (the guide's 5-minute buffer). */
export declare const REFRESH_BUFFER_MS: number;

/** One session's pair; `expiresAt` is when the access token expires (ms since the epoch, client clock). */
export interface Tokens {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number;
}

/**
 * Where the client keeps the session, so an app can persist it. `save` is called with every new pair,
 * rotated refresh token included; `clear` when the session ends. Methods may return promises.
 */
export interface TokenStorage {
  load(): Tokens | null | undefined | Promise<Tokens | null | undefined>;
  save(tokens: Tokens): void | Promise<void>;
  clear(): void | Promise<void>;
}

export declare class MemoryStorage implements TokenStorage {
  constructor(tokens?: Tokens | null);
  load(): Tokens | null;
  save(tokens: Tokens): void;
  clear(): void;
}

export interface APIClientOptions {
  /** Where the session is kept (memory by default). */
  storage?: TokenStorage;
  /** Called for a code when a login needs the MFA step. */
  mfaCode?: () => string | Promise<string>;
  /** Allow plain HTTP to a host other than this machine (never in production). */
  allowInsecureHttp?: boolean;
  /** The fetch to use (globalThis.fetch by default). */
  fetch?: typeof fetch;
  /** The clock, ms since the epoch (Date.now by default). */
  now?: () => number;
  /** How long before expiry to refresh (5 minutes by default). */
  refreshBufferMs?: number;
  /** Receives one line per request: method, path, status; never a token. */
  logger?: (line: string) => void;
}

export interface SaphetyToken {
  accessToken: string;
  expires: string;
  tokenType: string;
  virtualOperatorAlias: string | null;
}

export declare class AuthError extends Error {
  constructor(message: string, detail?: { status?: number | null; codigo?: string | null });
  status: number | null;
  codigo: string | null;
}
export declare class SessionExpired extends AuthError {}
export declare class InvalidCredentials extends AuthError {}
export declare class MfaRequired extends AuthError {}
export declare class MfaInvalid extends AuthError {}
export declare class RateLimited extends AuthError {
  retryAfter: number | null;
}
export declare class SaphetyError extends AuthError {
  codes: string[];
}
export declare class InsecureTransport extends Error {}

export declare class APIClient {
  constructor(baseURL: string, username?: string | null, password?: string | null, options?: APIClientOptions);
  readonly baseURL: string;
  readonly username: string | null;
  readonly accessToken: string | null;
  readonly refreshToken: string | null;
  readonly tokenExpiry: number | null;
  readonly mfaPending: boolean;
  login(): Promise<true>;
  verifyMfa(code: string): Promise<true>;
  refreshAccessToken(): Promise<true>;
  getHeaders(): Promise<{ Authorization: string; 'Content-Type': string }>;
  request(method: string, endpoint: string, init?: RequestInit): Promise<Response>;
  get(endpoint: string, init?: RequestInit): Promise<Response>;
  post(endpoint: string, data?: unknown, init?: RequestInit): Promise<Response>;
  logout(): Promise<void>;
  gettoken(username: string, password: string, virtualOperator?: string, otp?: string): Promise<SaphetyToken>;
}

export interface ClientCredentialsOptions {
  /** Space-separated scopes to ask for; all the client's `solicitud:*` scopes when left out. */
  scope?: string;
  /** `client_secret_basic` (default) or `client_secret_post`: the method the client registered. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  fetch?: typeof fetch;
  now?: () => number;
  refreshBufferMs?: number;
  allowInsecureHttp?: boolean;
  logger?: (message: string) => void;
}

/** A machine client's session: OAuth 2.0 client_credentials, the token cached and renewed once. */
export declare class ClientCredentialsClient {
  constructor(baseURL: string, clientId: string, clientSecret: string, options?: ClientCredentialsOptions);
  readonly baseURL: string;
  readonly clientId: string;
  readonly scope: string | null;
  readonly authMethod: string;
  readonly accessToken: string | null;
  fetchToken(): Promise<string>;
  getHeaders(): Promise<{ Authorization: string; 'Content-Type': string }>;
  request(method: string, endpoint: string, init?: RequestInit): Promise<Response>;
  get(endpoint: string, init?: RequestInit): Promise<Response>;
  post(endpoint: string, data?: unknown, init?: RequestInit): Promise<Response>;
}
