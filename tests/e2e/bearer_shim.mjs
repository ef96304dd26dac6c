// A loopback forwarder that adds `Authorization: Bearer <token>` to every
// request and changes nothing else: the conformance CLI has no option for
// request headers, and the gateway (rightly) takes grant tokens only in that
// header. Requests and responses stream through untouched, SSE included;
// the client's Host and Origin go on as they came.
//
//   node bearer_shim.mjs --target http://127.0.0.1:8080 --token TOKEN [--port N]
//
// Listens on 127.0.0.1 (port 0: a free one) and prints {"port": N}.

import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { target: { type: 'string' }, token: { type: 'string' }, port: { type: 'string', default: '0' } },
});
const target = new URL(args.target);

const server = http.createServer((req, res) => {
  const headers = { ...req.headers, authorization: `Bearer ${args.token}` };
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
    (answer) => {
      res.writeHead(answer.statusCode, answer.rawHeaders);
      answer.pipe(res);
    },
  );
  upstream.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`bearer_shim: ${error.message}`);
  });
  // The client went away: so does the forwarded request.
  res.on('close', () => upstream.destroy());
  req.pipe(upstream);
});

server.listen(Number(args.port), '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
