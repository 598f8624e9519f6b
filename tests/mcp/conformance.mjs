// Runs the MCP conformance suite (@modelcontextprotocol/conformance, server
// mode) against troupe with the committed baseline of expected failures
// (conformance-baseline.yml, which says why each one is expected). The
// suite sends no credential, so it talks to troupe through a loopback relay
// that adds TROUPE_MCP_KEY as a bearer token and passes everything else —
// Host and Origin included — through unchanged.
// Usage: TROUPE_MCP_URL=http://127.0.0.1:PORT/mcp TROUPE_MCP_KEY=… node conformance.mjs
import http from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const target = new URL(process.env.TROUPE_MCP_URL);
const key = process.env.TROUPE_MCP_KEY;

const relay = http.createServer((req, res) => {
  const upstream = http.request(
    {
      host: target.hostname,
      port: target.port,
      path: req.url,
      method: req.method,
      headers: { ...req.headers, authorization: `Bearer ${key}` },
    },
    (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (e) => {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`relay: ${e.message}`);
  });
  req.pipe(upstream);
});

relay.listen(0, '127.0.0.1', () => {
  const { port } = relay.address();
  const cli = path.join(here, 'node_modules', '.bin', 'conformance');
  const args = ['server', '--url', `http://127.0.0.1:${port}${target.pathname}`,
    '--expected-failures', path.join(here, 'conformance-baseline.yml')];
  if (process.env.TROUPE_MCP_RESULTS) args.push('--output-dir', process.env.TROUPE_MCP_RESULTS);
  const run = spawn(cli, args, { stdio: 'inherit' });
  run.on('exit', (code, signal) => {
    relay.close();
    process.exit(signal ? 1 : code);
  });
});
