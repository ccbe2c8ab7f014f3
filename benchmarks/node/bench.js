// The Node SDK (bybit-api) timed in-process, for benchmarks/RESULTS.md (another runtime).
// Prints one JSON object: {node, bybit_api, results: [{name, median_ns, min_ns, rounds, iterations, what}]}.
// Run by benchmarks/run.py; by hand: `npm install --prefix benchmarks/node && node benchmarks/node/bench.js`.
'use strict';

const { RestClientV5 } = require('bybit-api');
const { signMessage } = require('bybit-api/lib/util/webCryptoAPI');
const { serializeParams } = require('bybit-api/lib/util/requestUtils');

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 30;
const SECRET = 'Kx8vE0FrHeQdLw7sYb2nPz4cTgJ6mAiU9oRq';
const KEY = 'XXXXXXXXXXXXXXXXXX';

// The same payloads the Python benchmarks sign and parse.
const ORDER = {
  category: 'linear', symbol: 'BTCUSDT', side: 'Buy', orderType: 'Limit',
  qty: '0.001', price: '30000.5', timeInForce: 'PostOnly', orderLinkId: 'mm-000001',
};
const QUERY = { category: 'linear', symbol: 'BTCUSDT', openOnly: 0, limit: 50 };
const PAYLOAD = `1700000000000${KEY}5000` + JSON.stringify(ORDER);

function deltaFrame(u) {
  const b = [], a = [];
  for (let i = 0; i < 5; i++) {
    b.push([(30000 - i * 0.5).toFixed(1), (1 + i / 10).toFixed(3)]);
    a.push([(30000.5 + i * 0.5).toFixed(1), i === 2 ? '0' : (2 + i / 10).toFixed(3)]);
  }
  return JSON.stringify({
    topic: 'orderbook.50.BTCUSDT', type: 'delta', ts: 1700000000000 + u,
    data: { s: 'BTCUSDT', b, a, u, seq: 1000 + u }, cts: 1700000000000 + u,
  });
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Rounds of `iterations` calls each; per-op time of every round; async ops awaited one by one.
async function measure(name, what, iterations, fn) {
  for (let i = 0; i < Math.min(iterations, 1000); i++) await fn(i); // warm-up (JIT)
  const perOp = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn(i);
    perOp.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  return { name, what, median_ns: median(perOp), min_ns: Math.min(...perOp), rounds: ROUNDS, iterations };
}

function measureSync(name, what, iterations, fn) {
  for (let i = 0; i < Math.min(iterations, 10000); i++) fn(i);
  const perOp = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn(i);
    perOp.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  return { name, what, median_ns: median(perOp), min_ns: Math.min(...perOp), rounds: ROUNDS, iterations };
}

async function main() {
  const client = new RestClientV5({ key: KEY, secret: SECRET });
  const frames = Array.from({ length: 1024 }, (_, i) => deltaFrame(i + 1));
  let sink = 0;
  const results = [];
  results.push(await measure(
    'sign_hmac', 'HMAC-SHA256 hex of an order payload (webCryptoAPI.signMessage, as every request)',
    quick ? 500 : 2000, () => signMessage(PAYLOAD, SECRET, 'hex', 'SHA-256'),
  ));
  results.push(await measure(
    'sign_request_get', 'RestClientV5.signRequest of a GET query: serialise + sign (no I/O)',
    quick ? 500 : 2000, () => client.signRequest(QUERY, 'GET', 'v5auth'),
  ));
  results.push(await measure(
    'sign_request_post', 'RestClientV5.signRequest of an order body: JSON.stringify + sign (no I/O)',
    quick ? 500 : 2000, () => client.signRequest(ORDER, 'POST', 'v5auth'),
  ));
  results.push(measureSync(
    'serialize_query', 'requestUtils.serializeParams of a GET query (encodeURIComponent)',
    quick ? 5000 : 50000, () => { sink += serializeParams(QUERY, false, false, true).length; },
  ));
  results.push(measureSync(
    'parse_book_delta', 'JSON.parse of a 10-level orderbook.50 delta frame (bybit-api keeps no book)',
    quick ? 5000 : 50000, (i) => { sink += JSON.parse(frames[i & 1023]).data.u; },
  ));
  const pkg = require('bybit-api/package.json');
  process.stdout.write(JSON.stringify({ node: process.version, bybit_api: pkg.version, results, sink: sink > 0 }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
