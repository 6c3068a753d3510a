// Test support: the real system (the all-in-one binary) started per test, a proxy that loses a
// response, and TOTP codes computed with node:crypto (test code only; the library needs none of it).
//
// The binary is $ALL_IN_ONE_BIN, else $CARGO_TARGET_DIR/debug/all-in-one, else the repository's
// target/debug/all-in-one. Without one the tests are skipped, except under CI=true where that is a
// failure. $TEST_REDIS_URL, when set, puts the service on that Redis under a key prefix of its own.

import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..', '..');

export const USER = 'api_user';
export const PASSWORD = 'client-tests-password-1';
export const EMAIL = 'api_user@example.com';

export function onCi() {
  return !['', '0', 'false'].includes(process.env.CI ?? '');
}

export function binary() {
  if (process.env.ALL_IN_ONE_BIN) return process.env.ALL_IN_ONE_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(REPO, 'target');
  return path.join(target, 'debug', 'all-in-one');
}

/** Starts one all-in-one process on a free port; `t.skip` when the binary is missing (not on CI). */
export async function startService(t, env = {}) {
  const bin = binary();
  if (!existsSync(bin)) {
    const message = `the all-in-one binary is not built (${bin}): cargo build -p all-in-one`;
    if (onCi()) throw new Error(message);
    t.skip(message);
    return null;
  }
  const vars = {
    PATH: process.env.PATH ?? '',
    JWT_SECRET: 'client-tests-secret-0123456789abcdef',
    API_PASSWORD: PASSWORD,
    API_USER_EMAIL: EMAIL,
    ALL_IN_ONE_BIND_ADDR: '127.0.0.1:0',
    LOG_FORMAT: 'json',
    // 32 bytes, base64: MFA secrets sealed with a fixed test key (required with Redis).
    MFA_ENCRYPTION_KEY: Buffer.from('client-tests-mfa-key-0123456789a').toString('base64'),
    ...env,
  };
  if (process.env.TEST_REDIS_URL) {
    vars.REDIS_URL = process.env.TEST_REDIS_URL;
    vars.REDIS_KEY_PREFIX = `clients-js-${randomUUID()}:`;
  }
  const child = spawn(bin, [], { env: vars, cwd: process.env.TMPDIR ?? '/tmp', stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`all-in-one did not log "listening": ${lines.join('\n')}`)), 30000);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line);
        if (entry.message === 'listening') {
          clearTimeout(timer);
          resolve(`http://${entry.addr}`);
        }
      } catch {
        // not JSON: kept, not parsed
      }
    });
    child.on('exit', (code) => reject(new Error(`all-in-one exited (${code}): ${lines.join('\n')}`)));
  });
  t.after(() => child.kill());
  const settle = async () => {
    let seen = -1;
    for (let i = 0; i < 10 && lines.length !== seen; i++) {
      seen = lines.length;
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  return {
    origin,
    lines,
    /** How many requests the service logged for `method path` (with `status` when given). */
    async requests(method, p, status = undefined) {
      await settle();
      return lines
        .map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            return {};
          }
        })
        .filter((e) => e.message === 'request' && e.method === method && e.path === p)
        .filter((e) => status === undefined || e.status === status).length;
    },
    async reuseDetected() {
      await settle();
      return lines.some((l) => l.includes('reuse detected'));
    },
  };
}

/** A plain request, outside the library: how the tests act as another device. */
export async function post(origin, p, body, token = undefined) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`${origin}${p}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return r.json();
}

// --- TOTP (RFC 6238, SHA-1, 6 digits, 30 s) ---

function base32(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.toUpperCase().replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(Number.parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

export function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** A user's authenticator app: each code is for a later step than the last one used. */
export class Authenticator {
  constructor(secret) {
    this.secret = secret;
    this.last = 0;
  }
  code() {
    this.last = Math.max(Math.floor(Date.now() / 30000), this.last + 1);
    return totp(this.secret, this.last);
  }
}

/** Turns MFA on for the API user through the API, as a user would. */
export async function enrolMfa(origin) {
  const token = (await post(origin, '/auth/login', { username: USER, password: PASSWORD })).datos.accessToken;
  const setup = await post(origin, '/auth/mfa/setup', {}, token);
  if (!setup.exito) throw new Error(JSON.stringify(setup));
  const app = new Authenticator(setup.datos.secret);
  const activated = await post(origin, '/auth/mfa/activate', { code: app.code() }, token);
  if (!activated.exito) throw new Error(JSON.stringify(activated));
  return app;
}

/**
 * Forwards every request to `origin`; for the first `drop` requests to `lose` it reads the service's
 * answer, keeps it in `dropped`, and destroys the connection without a byte to the client.
 */
export async function lossyProxy(t, origin, lose, drop = 1) {
  const dropped = [];
  let left = drop;
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const headers = { ...req.headers };
    delete headers.host;
    delete headers.connection;
    const answer = await fetch(`${origin}${req.url}`, {
      method: req.method,
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    const data = Buffer.from(await answer.arrayBuffer());
    if (req.url === lose && left > 0) {
      left -= 1;
      dropped.push(JSON.parse(data.toString()));
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
    res.end(data);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { origin: `http://127.0.0.1:${server.address().port}`, dropped };
}
