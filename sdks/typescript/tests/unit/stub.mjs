// A local HTTP stub: answers from a script and records every request, so the runtime's
// retries, headers and error mapping are tested over a real socket.
import http from 'node:http';

export async function startStub() {
  const stub = { requests: [], script: [] };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', async () => {
      const recorded = { method: req.method, path: req.url, headers: req.headers, body: raw ? JSON.parse(raw) : undefined };
      stub.requests.push(recorded);
      let step = stub.script.shift() ?? { status: 500, body: { error: 'script exhausted' } };
      if (typeof step === 'function') step = await step(recorded);
      res.writeHead(step.status, { 'content-type': 'application/json', 'x-request-id': `req_stub_${stub.requests.length}`, ...(step.headers ?? {}) });
      res.end(JSON.stringify(step.body ?? null));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${server.address().port}`;
  stub.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); });
  return stub;
}
