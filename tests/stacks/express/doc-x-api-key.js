// The Ouro API with X-API-KEY authentication, built only from its providers' documents
// (the project's seeds 000_… and 001_…: the Ouro API's error codes and rate limits; 002_…:
// X-API-KEY authentication and its 401/403 bodies), as a team following them would build
// it: express + express-rate-limit, nothing of tollgate's reference server. Started by
// tests/document_servers.rs.
//
//   node doc-x-api-key.js --port P
//
// What the documents say, and what this server does:
// * `X-API-KEY: <key>` on every request. Missing or invalid key → 401
//   `{"error": "Unauthorized. Please provide a valid API key."}`; revoked or expired key →
//   403 `{"error": "Forbidden. This API key has been revoked or expired."}`. Nothing else
//   authenticates (no `Authorization: Bearer`, no key in the query string).
// * 403 also when the key may not perform the request (the read-only key on writes).
// * 400 for a missing required parameter, 404 for what does not exist, 409 for a request
//   that conflicts with another (an Idempotency-Key reused with another body), 429 for too
//   many requests, 5xx for our own errors. Every error is JSON `{"error": ...}`.
// * Rate limits per key, one-second windows: 100 reads and 100 writes per second for most
//   APIs (here /v1/users and anything else under /v1), 20 reads and 20 writes per second for
//   the Files API, 20 per second for the Search API; live and test mode separate (the test
//   key has its own counters). express-rate-limit, one limiter per class, memory store,
//   fixed windows from a key's first request, its default headers (legacy X-RateLimit-*;
//   Retry-After on a 429).
// * A concurrency limiter: at most 20 requests in flight per key; the 21st → 429.
//
// Where the documents are silent (our own choices):
// * Endpoints: /v1/users (GET list, POST), /v1/users/{id} (GET, PUT, DELETE), /v1/files
//   (GET list, POST {name, content}), /v1/files/{id} (GET with content, DELETE),
//   /v1/search?q= (users and files whose name or email contains q; no q → 400).
//   `delay_ms` on search (0–10000) holds the answer that long (a long-lived request).
// * Ids are UUIDs. Lists are `{"data": [...], "pagination": {"limit", "offset", "total"}}`;
//   limit 1–100 (default 20), offset ≥ 0, anything else → 400.
// * Users: name, email and password (≥ 8 characters) required; a duplicate email → 409;
//   the password is never returned. A user is {id, name, email, created_at, updated_at}.
// * Files: {id, name, size (bytes of content), created_at}; GET by id adds content.
// * Search: {"results": [{type, id, name}], "total": n} (the query is not echoed).
// * POSTs honour `Idempotency-Key` per key: the same body replays the first answer, another
//   body → 409.
// * The read-only key belongs to the primary account (sees its data); the test key is the
//   primary account in test mode (its own data); OURO_API_KEY_2 is a second account.
// * The concurrency 429 carries no Retry-After (the documents ask for exponential back-off).
// * Unauthenticated requests are refused before any limiter and cost nothing.
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

const UNAUTHORIZED = 'Unauthorized. Please provide a valid API key.';
const REVOKED = 'Forbidden. This API key has been revoked or expired.';

// API key → account, mode and what it may do. Missing variables issue no such key.
const KEYS = new Map();
function issue(variable, grant) {
  const key = process.env[variable];
  if (key) KEYS.set(key, grant);
}
issue('OURO_API_KEY', { account: 'primary', mode: 'live', write: true });
issue('OURO_TEST_API_KEY', { account: 'primary', mode: 'test', write: true });
issue('OURO_API_KEY_READONLY', { account: 'primary', mode: 'live', write: false });
issue('OURO_API_KEY_REVOKED', { account: 'primary', mode: 'live', write: true, revoked: true });
issue('OURO_API_KEY_2', { account: 'second', mode: 'live', write: true });

// ---------------------------------------------------------------------------------------
// Data per account and mode.

const stores = new Map();
function storeOf(grant) {
  const name = `${grant.account}/${grant.mode}`;
  if (!stores.has(name)) stores.set(name, { users: new Map(), files: new Map() });
  return stores.get(name);
}

const now = () => new Date().toISOString();
const publicUser = (u) => ({ id: u.id, name: u.name, email: u.email, created_at: u.created_at, updated_at: u.updated_at });
const fileSummary = (f) => ({ id: f.id, name: f.name, size: f.size, created_at: f.created_at });
const EMAIL = /^[^\s@]+@[^\s@]+$/;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
const fail = (status, message) => {
  throw new HttpError(status, message);
};

// ---------------------------------------------------------------------------------------
// Middleware.

const app = express();
app.disable('x-powered-by');
app.disable('etag');

const v1 = express.Router();

// Authentication: X-API-KEY only.
v1.use((req, res, next) => {
  const key = req.get('x-api-key');
  const grant = key ? KEYS.get(key) : undefined;
  if (!grant) fail(401, UNAUTHORIZED);
  if (grant.revoked) fail(403, REVOKED);
  req.apiKey = key;
  req.grant = grant;
  next();
});

// Concurrency: 20 in flight per key.
const inFlight = new Map();
v1.use((req, res, next) => {
  const count = inFlight.get(req.apiKey) ?? 0;
  if (count >= 20) {
    res.status(429).json({ error: 'Too many concurrent requests for this API key (at most 20 at a time). Retry with exponential back-off.' });
    return;
  }
  inFlight.set(req.apiKey, count + 1);
  res.once('close', () => {
    const left = (inFlight.get(req.apiKey) ?? 1) - 1;
    if (left > 0) inFlight.set(req.apiKey, left);
    else inFlight.delete(req.apiKey);
  });
  next();
});

// Rate limits per key and class.
const CLASSES = {
  read: { limit: 100, what: 'read operations' },
  write: { limit: 100, what: 'write operations' },
  files_read: { limit: 20, what: 'Files API read operations' },
  files_write: { limit: 20, what: 'Files API write operations' },
  search: { limit: 20, what: 'Search API requests' },
};
const limiters = Object.fromEntries(
  Object.entries(CLASSES).map(([cls, { limit, what }]) => [
    cls,
    rateLimit({
      windowMs: 1000,
      limit,
      keyGenerator: (req) => req.apiKey,
      message: { error: `Too many requests: at most ${limit} ${what} per second. Back off exponentially and retry.` },
    }),
  ]),
);
function classOf(req) {
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (req.path === '/search' || req.path.startsWith('/search/')) return 'search';
  if (req.path === '/files' || req.path.startsWith('/files/')) return read ? 'files_read' : 'files_write';
  return read ? 'read' : 'write';
}
v1.use((req, res, next) => limiters[classOf(req)](req, res, next));

// Bodies are read once the request is authenticated and counted.
v1.use(express.json({ limit: '1mb' }));

function writable(req) {
  if (!req.grant.write) fail(403, "Forbidden. This API key doesn't have permission to perform this request.");
}

// Idempotency-Key on POST: replay or conflict.
const idempotent = new Map();
function idempotency(req, res, next) {
  const idem = req.get('idempotency-key');
  if (!idem) return next();
  const slot = `${req.apiKey} ${req.path} ${idem}`;
  const fingerprint = JSON.stringify(req.body ?? null);
  const seen = idempotent.get(slot);
  if (seen) {
    if (seen.fingerprint !== fingerprint) {
      fail(409, 'This Idempotency-Key was already used with different request parameters.');
    }
    res.status(seen.status).json(seen.body);
    return;
  }
  const json = res.json.bind(res);
  res.json = (payload) => {
    if (res.statusCode < 500) idempotent.set(slot, { fingerprint, status: res.statusCode, body: payload });
    return json(payload);
  };
  next();
}

// ---------------------------------------------------------------------------------------
// Helpers.

function body(req) {
  const b = req.body;
  if (b === undefined) fail(400, 'The request body must be JSON (Content-Type: application/json).');
  if (b === null || typeof b !== 'object' || Array.isArray(b)) fail(400, 'The request body must be a JSON object.');
  return b;
}

function required(b, field) {
  if (b[field] === undefined || b[field] === null || b[field] === '') fail(400, `${field} is required.`);
}

function page(req) {
  const parse = (value, name, fallback, min, max) => {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !/^\d+$/.test(value)) fail(400, `${name} must be an integer.`);
    const n = Number(value);
    if (n < min || n > max) fail(400, `${name} must be between ${min} and ${max}.`);
    return n;
  };
  return {
    limit: parse(req.query.limit, 'limit', 20, 1, 100),
    offset: parse(req.query.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
  };
}

function list(req, items) {
  const { limit, offset } = page(req);
  return { data: items.slice(offset, offset + limit), pagination: { limit, offset, total: items.length } };
}

function emailTaken(users, email, except) {
  const wanted = email.toLowerCase();
  for (const u of users.values()) if (u.id !== except && u.email.toLowerCase() === wanted) return true;
  return false;
}

// ---------------------------------------------------------------------------------------
// Users.

v1.get('/users', (req, res) => {
  res.json(list(req, [...storeOf(req.grant).users.values()].map(publicUser)));
});

v1.post('/users', (req, res, next) => {
  writable(req);
  next();
}, idempotency, (req, res) => {
  const b = body(req);
  for (const field of ['name', 'email', 'password']) required(b, field);
  if (typeof b.name !== 'string') fail(400, 'name must be a string.');
  if (typeof b.email !== 'string' || !EMAIL.test(b.email)) fail(400, 'email must be a valid email address.');
  if (typeof b.password !== 'string' || b.password.length < 8) fail(400, 'password must be at least 8 characters long.');
  const { users } = storeOf(req.grant);
  if (emailTaken(users, b.email)) fail(409, 'A user with this email already exists.');
  const at = now();
  const user = { id: crypto.randomUUID(), name: b.name, email: b.email, created_at: at, updated_at: at };
  users.set(user.id, user);
  res.status(201).json(publicUser(user));
});

function findUser(req) {
  const user = storeOf(req.grant).users.get(req.params.id);
  if (!user) fail(404, `No such user: ${req.params.id}`);
  return user;
}

v1.get('/users/:id', (req, res) => {
  res.json(publicUser(findUser(req)));
});

v1.put('/users/:id', (req, res) => {
  writable(req);
  const b = body(req);
  const user = findUser(req);
  if (b.name !== undefined && (typeof b.name !== 'string' || b.name === '')) fail(400, 'name must be a non-empty string.');
  if (b.email !== undefined) {
    if (typeof b.email !== 'string' || !EMAIL.test(b.email)) fail(400, 'email must be a valid email address.');
    if (emailTaken(storeOf(req.grant).users, b.email, user.id)) fail(409, 'A user with this email already exists.');
  }
  if (b.password !== undefined && (typeof b.password !== 'string' || b.password.length < 8)) {
    fail(400, 'password must be at least 8 characters long.');
  }
  if (b.name !== undefined) user.name = b.name;
  if (b.email !== undefined) user.email = b.email;
  user.updated_at = now();
  res.json(publicUser(user));
});

v1.delete('/users/:id', (req, res) => {
  writable(req);
  findUser(req);
  storeOf(req.grant).users.delete(req.params.id);
  res.status(204).end();
});

// ---------------------------------------------------------------------------------------
// Files.

v1.get('/files', (req, res) => {
  res.json(list(req, [...storeOf(req.grant).files.values()].map(fileSummary)));
});

v1.post('/files', (req, res, next) => {
  writable(req);
  next();
}, idempotency, (req, res) => {
  const b = body(req);
  required(b, 'name');
  if (typeof b.name !== 'string') fail(400, 'name must be a string.');
  if (b.content === undefined || b.content === null) fail(400, 'content is required.');
  if (typeof b.content !== 'string') fail(400, 'content must be a string.');
  const file = {
    id: crypto.randomUUID(),
    name: b.name,
    content: b.content,
    size: Buffer.byteLength(b.content, 'utf8'),
    created_at: now(),
  };
  storeOf(req.grant).files.set(file.id, file);
  res.status(201).json(fileSummary(file));
});

function findFile(req) {
  const file = storeOf(req.grant).files.get(req.params.id);
  if (!file) fail(404, `No such file: ${req.params.id}`);
  return file;
}

v1.get('/files/:id', (req, res) => {
  const file = findFile(req);
  res.json({ ...fileSummary(file), content: file.content });
});

v1.delete('/files/:id', (req, res) => {
  writable(req);
  findFile(req);
  storeOf(req.grant).files.delete(req.params.id);
  res.status(204).end();
});

// ---------------------------------------------------------------------------------------
// Search.

v1.get('/search', async (req, res) => {
  const q = req.query.q;
  if (typeof q !== 'string' || q.trim() === '') fail(400, 'q is required.');
  let delay = 0;
  if (req.query.delay_ms !== undefined) {
    const raw = req.query.delay_ms;
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) > 10000) {
      fail(400, 'delay_ms must be an integer between 0 and 10000.');
    }
    delay = Number(raw);
  }
  const needle = q.toLowerCase();
  const { users, files } = storeOf(req.grant);
  const results = [];
  for (const u of users.values()) {
    if (u.name.toLowerCase().includes(needle) || u.email.toLowerCase().includes(needle)) {
      results.push({ type: 'user', id: u.id, name: u.name });
    }
  }
  for (const f of files.values()) {
    if (f.name.toLowerCase().includes(needle)) results.push({ type: 'file', id: f.id, name: f.name });
  }
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  res.json({ results, total: results.length });
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
    message = "Something went wrong on Ouro's end.";
  }
  res.status(status).json({ error: message });
});

const server = app.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
server.keepAliveTimeout = 65000;
