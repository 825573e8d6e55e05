// The baseline: a bare Node http server returning what the no-op function returns.
import { createServer } from 'node:http';

const body = Buffer.from(process.argv[2] ?? 'null');
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  if (addr && typeof addr === 'object') console.log(`listening on http://127.0.0.1:${addr.port}`);
});
