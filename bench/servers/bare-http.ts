/** B0: the floor. node:http answering a fixed JSON body to every request after reading it. */
import { createServer } from 'node:http';
import { readBody, reportListening, serveControl } from './server-ipc.js';

const BODY = JSON.stringify({ data: { ok: true } });
const LENGTH = String(Buffer.byteLength(BODY));

const server = createServer((req, res) => {
  void readBody(req).then(() => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': LENGTH });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 65_000;
serveControl(() => true);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no TCP address');
  reportListening(address.port);
});
