// A round-robin HTTP balancer, per request (as nginx's upstream round-robin), in front of
// the express replicas of tests/real_stacks.rs.
//
//   node balancer.js --port P --upstreams http://127.0.0.1:A,http://127.0.0.1:B
'use strict';

const http = require('node:http');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const upstreams = args.upstreams.split(',').map((u) => new URL(u));
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'];
function withoutHopByHop(headers) {
  const copy = { ...headers };
  for (const name of HOP_BY_HOP) delete copy[name];
  return copy;
}

let next = 0;
const server = http.createServer((req, res) => {
  const target = upstreams[next];
  next = (next + 1) % upstreams.length;
  const upstream = http.request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: withoutHopByHop(req.headers),
      agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode, withoutHopByHop(answer.headers));
      answer.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"error":"Bad gateway."}');
    } else res.destroy();
  });
  req.pipe(upstream);
});
server.keepAliveTimeout = 65000;
server.listen(Number(args.port), '127.0.0.1', () => console.log(`listening on 127.0.0.1:${args.port}`));
