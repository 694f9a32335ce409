// The users v1 API built only from its provider's document
// (the provider's "REST API Integrations" document for users v1),
// as a team following that document would build it: express + express-rate-limit, nothing
// of tollgate's reference server. Started by tests/document_servers.rs.
//
//   node doc-users-v1.js --port P
//
// What the document says, and what this server does:
// * `Authorization: Bearer YOUR_API_KEY` on every request; 401 when credentials are missing
//   or invalid (`{"error": "Invalid API key provided."}`), 403 when the authenticated key may
//   not perform the action (the read-only key on writes).
// * GET /v1/users?limit&offset → 200, a bare JSON array of {id, name, email, created_at}
//   with ids like `user_abc123`.
// * POST /v1/users {name, email, password} → 201 {id, name, email, created_at}; email unique
//   (400 `{"error": "Email address is already in use."}`), password at least 8 characters.
// * PUT /v1/users/{id} {name?, email?} → 200 {id, name, email, updated_at}.
// * DELETE /v1/users/{id} → 204, no body.
// * Errors are `{"error": ...}`; statuses 400, 401, 403, 404, 429, 500.
// * 100 requests per minute and 5000 per hour; `RateLimit-Remaining` and `RateLimit-Reset`
//   on responses: two express-rate-limit limiters (fixed windows of 1 min and 1 h from a
//   key's first request, memory store) keyed by the API key, `standardHeaders: 'draft-6'`
//   (RateLimit-Policy / -Limit / -Remaining / -Reset, and Retry-After on a 429, as
//   express-rate-limit does by default once standard headers are on).
//
// Where the document is silent (our own choices):
// * GET /v1/users/{id} is not in the document: 405 with `Allow: PUT, DELETE`.
// * A revoked key is an invalid credential: 401 (the document's 403 is about permissions).
// * Keys come from OURO_API_KEY (primary account), OURO_API_KEY_READONLY (primary account,
//   read-only: writes → 403), OURO_API_KEY_REVOKED (→ 401), OURO_API_KEY_2 (a second
//   account) and OURO_TEST_API_KEY (an account of its own: this API has no test mode).
//   Each account has its own users; each key its own rate-limit counters.
// * Every account starts with the document's two example users (Alice and Bob).
// * limit defaults to 20 and is capped at 100 (a larger limit answers 100 users, no error);
//   offset defaults to 0. Non-integers or negatives are a 400.
// * The hour limiter runs first, so the headers a client sees are the minute limiter's
//   (the one a normal client meets first); a request refused by the minute limiter still
//   counts against the hour.
// * The rate limiters count authenticated requests only: a 401 costs nothing.
'use strict';

const crypto = require('node:crypto');
const express = require('express');
const { rateLimit } = require('express-rate-limit');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const port = Number(args.port ?? 8080);

// API key → what it may do. Missing variables simply issue no such key.
const KEYS = new Map();
function issue(variable, grant) {
  const key = process.env[variable];
  if (key) KEYS.set(key, grant);
}
issue('OURO_API_KEY', { account: 'primary', write: true });
issue('OURO_API_KEY_READONLY', { account: 'primary', write: false });
issue('OURO_API_KEY_REVOKED', { account: 'primary', write: true, revoked: true });
issue('OURO_API_KEY_2', { account: 'second', write: true });
issue('OURO_TEST_API_KEY', { account: 'test', write: true });

// ---------------------------------------------------------------------------------------
// Data: users per account, in creation order.

const accounts = new Map();
function usersOf(account) {
  if (!accounts.has(account)) {
    accounts.set(
      account,
      new Map([
        ['user_abc123', { id: 'user_abc123', name: 'Alice Wonderland', email: 'alice@example.com', created_at: '2023-10-27T10:00:00Z', updated_at: '2023-10-27T10:00:00Z' }],
        ['user_def456', { id: 'user_def456', name: 'Bob The Builder', email: 'bob@example.com', created_at: '2023-10-27T10:05:00Z', updated_at: '2023-10-27T10:05:00Z' }],
      ]),
    );
  }
  return accounts.get(account);
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
function newId(users) {
  for (;;) {
    const bytes = crypto.randomBytes(10);
    let id = 'user_';
    for (const b of bytes) id += ALPHABET[b % ALPHABET.length];
    if (!users.has(id)) return id;
  }
}

function now() {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// The document's two shapes: created (POST, list) and updated (PUT).
const created = (u) => ({ id: u.id, name: u.name, email: u.email, created_at: u.created_at });
const updated = (u) => ({ id: u.id, name: u.name, email: u.email, updated_at: u.updated_at });

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
function emailTaken(users, email, except) {
  const wanted = email.toLowerCase();
  for (const u of users.values()) if (u.id !== except && u.email.toLowerCase() === wanted) return true;
  return false;
}

// ---------------------------------------------------------------------------------------
// The app.

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
const fail = (status, message) => {
  throw new HttpError(status, message);
};

const app = express();
app.disable('x-powered-by');
app.disable('etag');

const v1 = express.Router();

// Authentication: Bearer only.
v1.use((req, res, next) => {
  const header = req.get('authorization');
  if (!header) fail(401, 'No API key provided. Send it as `Authorization: Bearer YOUR_API_KEY`.');
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  if (!match) fail(401, 'Invalid authorization header. Send your API key as `Authorization: Bearer YOUR_API_KEY`.');
  const grant = KEYS.get(match[1]);
  if (!grant) fail(401, 'Invalid API key provided.');
  if (grant.revoked) fail(401, 'This API key has been revoked.');
  req.apiKey = match[1];
  req.grant = grant;
  next();
});

// 100 per minute and 5000 per hour, per API key.
function limiter(windowMs, limit, what) {
  return rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    keyGenerator: (req) => req.apiKey,
    message: { error: `Rate limit exceeded: ${limit} requests per ${what}. Try again later.` },
  });
}
v1.use(limiter(60 * 60 * 1000, 5000, 'hour'));
v1.use(limiter(60 * 1000, 100, 'minute'));

// Bodies are read once the request is authenticated and counted.
v1.use(express.json({ limit: '100kb' }));

function writable(req) {
  if (!req.grant.write) fail(403, 'This API key does not have permission to perform this action.');
}

function integerParam(value, name, fallback, min) {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < min) {
    fail(400, `${name} must be an integer of at least ${min}.`);
  }
  return Number(value);
}

function body(req) {
  const b = req.body;
  if (b === undefined) fail(400, 'The request body must be JSON (Content-Type: application/json).');
  if (b === null || typeof b !== 'object' || Array.isArray(b)) fail(400, 'The request body must be a JSON object.');
  return b;
}

function nonEmptyString(value, name) {
  if (typeof value !== 'string' || value.trim() === '') fail(400, `${name} must be a non-empty string.`);
}

v1.get('/users', (req, res) => {
  const limit = Math.min(integerParam(req.query.limit, 'limit', 20, 1), 100);
  const offset = integerParam(req.query.offset, 'offset', 0, 0);
  const users = [...usersOf(req.grant.account).values()];
  res.json(users.slice(offset, offset + limit).map(created));
});

v1.post('/users', (req, res) => {
  writable(req);
  const b = body(req);
  for (const field of ['name', 'email', 'password']) {
    if (b[field] === undefined || b[field] === null) fail(400, `${field} is required.`);
  }
  nonEmptyString(b.name, 'name');
  if (typeof b.email !== 'string' || !EMAIL.test(b.email)) fail(400, 'email must be a valid email address.');
  if (typeof b.password !== 'string') fail(400, 'password must be a string.');
  if (b.password.length < 8) fail(400, 'Password must be at least 8 characters long.');
  const users = usersOf(req.grant.account);
  if (emailTaken(users, b.email)) fail(400, 'Email address is already in use.');
  const at = now();
  const user = { id: newId(users), name: b.name, email: b.email, created_at: at, updated_at: at };
  // A real service would keep a salted hash; this one keeps none (nothing logs in).
  users.set(user.id, user);
  res.status(201).json(created(user));
});

// Not in the document.
v1.get('/users/:id', (req, res) => {
  res.set('Allow', 'PUT, DELETE');
  fail(405, 'Method not allowed. /v1/users/{userId} supports PUT and DELETE.');
});

v1.put('/users/:id', (req, res) => {
  writable(req);
  const b = body(req);
  const users = usersOf(req.grant.account);
  const user = users.get(req.params.id);
  if (!user) fail(404, 'User not found.');
  if (b.name === undefined && b.email === undefined) fail(400, 'Nothing to update: send name or email.');
  if (b.name !== undefined) nonEmptyString(b.name, 'name');
  if (b.email !== undefined) {
    if (typeof b.email !== 'string' || !EMAIL.test(b.email)) fail(400, 'email must be a valid email address.');
    if (emailTaken(users, b.email, user.id)) fail(400, 'Email address is already in use.');
  }
  if (b.name !== undefined) user.name = b.name;
  if (b.email !== undefined) user.email = b.email;
  user.updated_at = now();
  res.json(updated(user));
});

v1.delete('/users/:id', (req, res) => {
  writable(req);
  const users = usersOf(req.grant.account);
  if (!users.delete(req.params.id)) fail(404, 'User not found.');
  res.status(204).end();
});

v1.use(() => fail(404, 'Not found.'));

app.use('/v1', v1);
app.use(() => fail(404, 'Not found.'));

// Every error as {"error": ...}.
app.use((err, req, res, _next) => {
  let status = err.status ?? err.statusCode ?? 500;
  let message = err instanceof HttpError ? err.message : undefined;
  if (err.type === 'entity.parse.failed') message = 'The request body is not valid JSON.';
  else if (err.type === 'entity.too.large') message = 'The request body is too large.';
  else if (!message && status < 500) message = 'Bad request.';
  if (status >= 500) {
    if (!(err instanceof HttpError)) console.error(err);
    status = 500;
    message = 'Internal server error.';
  }
  res.status(status).json({ error: message });
});

const server = app.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
server.keepAliveTimeout = 65000;
