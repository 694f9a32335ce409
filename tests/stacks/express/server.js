// express + express-rate-limit in front of the tollgate reference server (run with no rate
// limits): the limiter here does all the rate limiting. Started by tests/real_stacks.rs.
//
//   node server.js --port P --backend http://127.0.0.1:B [--store memory|redis]
//                  [--redis-url redis://127.0.0.1:R] [--headers draft-6|draft-7|draft-8|none]
//                  [--key api-key|ip] [--prefix per-class|shared]
//
// Conformant (by express-rate-limit's README): one limiter per published rate class, keyed
// by the API key (X-API-KEY, or the token of `Authorization: Bearer`), 1 s fixed windows that
// start at a key's first request, a JSON `{"error": ...}` 429, IETF headers (`standardHeaders`,
// which also sets Retry-After on every 429). With `--store redis` every replica shares the
// counts through rate-limit-redis, one key prefix per limiter.
//
// The misconfigurations teams ship: `--headers none` (standardHeaders and legacyHeaders off:
// a 429 with no Retry-After), `--key ip` (the default keyGenerator: every API key behind
// one address shares one bucket), `--prefix shared` (every limiter's RedisStore left on the
// default prefix `rl:`, so the classes share one counter per key), and `--store memory` on
// replicas behind a balancer (each process counts on its own).
'use strict';

const http = require('node:http');
const express = require('express');
const { rateLimit } = require('express-rate-limit');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const port = Number(args.port);
const backend = new URL(args.backend);
const storeKind = args.store ?? 'memory';
const headers = args.headers ?? 'draft-8';
const keyBy = args.key ?? 'api-key';
const prefixes = args.prefix ?? 'per-class';

// The published limits of tollgate.yaml, per key, per class.
const CLASSES = { read: 100, write: 100, files_read: 20, files_write: 20, search: 20 };

function apiKey(req) {
  const key = req.get('x-api-key');
  if (key) return key;
  const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
  return match ? match[1] : undefined;
}

// The same classes as the reference server: GET/HEAD read, anything else writes.
function classOf(req) {
  const reads = req.method === 'GET' || req.method === 'HEAD';
  const path = req.path;
  if (path === '/v1/search') return 'search';
  if (path === '/v1/files' || path.startsWith('/v1/files/')) return reads ? 'files_read' : 'files_write';
  if (path === '/v1/users' || path.startsWith('/v1/users/')) return reads ? 'read' : 'write';
  return undefined;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'];
function withoutHopByHop(headers) {
  const copy = { ...headers };
  for (const name of HOP_BY_HOP) delete copy[name];
  return copy;
}

let redis;
async function storeFor(cls) {
  if (storeKind === 'memory') return undefined; // express-rate-limit's MemoryStore
  const { RedisStore } = require('rate-limit-redis');
  if (!redis) {
    const { createClient } = require('redis');
    redis = createClient({ url: args['redis-url'] });
    redis.on('error', (e) => console.error('redis:', e.message));
    await redis.connect();
  }
  return new RedisStore({
    sendCommand: (...command) => redis.sendCommand(command),
    prefix: prefixes === 'shared' ? 'rl:' : `rl:${cls}:`,
  });
}

async function main() {
  const app = express();
  app.disable('x-powered-by');
  for (const [cls, limit] of Object.entries(CLASSES)) {
    const options = {
      windowMs: 1000,
      limit,
      standardHeaders: headers === 'none' ? false : headers,
      legacyHeaders: false,
      // Requests without a key are the backend's to refuse (401); other classes have
      // their own limiter.
      skip: (req) => classOf(req) !== cls || !apiKey(req),
      message: { error: `Too many requests: the ${cls} limit is ${limit} per second per API key.` },
    };
    if (keyBy === 'api-key') options.keyGenerator = (req) => apiKey(req);
    const store = await storeFor(cls);
    if (store) options.store = store;
    app.use(rateLimit(options));
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  app.use((req, res) => {
    const upstream = http.request(
      {
        host: backend.hostname,
        port: backend.port,
        method: req.method,
        path: req.originalUrl,
        headers: { ...withoutHopByHop(req.headers), host: backend.host },
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode, withoutHopByHop(answer.headers));
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.status(502).json({ error: 'Bad gateway.' });
      else res.destroy();
    });
    req.pipe(upstream);
  });
  const server = app.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
  server.keepAliveTimeout = 65000;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
