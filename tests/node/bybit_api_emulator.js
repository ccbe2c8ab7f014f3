// Drives the emulator with the unmodified Node SDK `bybit-api` (REST, private stream, WS API).
// Usage: node bybit_api_emulator.js REST_URL WS_URL API_KEY API_SECRET
// Prints one JSON line of results; exit code 0 on success, 1 on any failure.
const { RestClientV5, WebsocketClient, WebsocketAPIClient } = require('bybit-api');

const [restUrl, wsUrl, key, secret] = process.argv.slice(2);
const silent = { trace() {}, info() {}, error() {} };
const results = {};

function withTimeout(promise, ms, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ]);
}

async function main() {
  const rest = new RestClientV5({ key, secret, baseUrl: restUrl });
  const wallet = await rest.getWalletBalance({ accountType: 'UNIFIED' });
  results.wallet = wallet.retCode;
  const status = await rest.getSystemStatus();
  results.status = status.retCode;

  const ws = new WebsocketClient({ key, secret, wsUrl: `${wsUrl}/v5/private` }, silent);
  const authenticated = new Promise((resolve) => ws.on('authenticated', resolve));
  const orderPush = new Promise((resolve) => {
    ws.on('update', (msg) => {
      if (msg.topic === 'order') resolve(msg);
    });
  });
  ws.subscribeV5(['order'], 'linear');
  await withTimeout(authenticated, 5000, 'private auth');
  results.private_auth = true;
  // Give the subscribe a moment to be acked before trading.
  await new Promise((r) => setTimeout(r, 200));

  const order = await rest.submitOrder({
    category: 'linear', symbol: 'BTCUSDT', side: 'Buy', orderType: 'Market', qty: '0.01', orderLinkId: 'node-rest-1',
  });
  results.rest_order = order.retCode;
  const push = await withTimeout(orderPush, 5000, 'order push');
  results.push_link_id = push.data[0].orderLinkId;
  const positions = await rest.getPositionInfo({ category: 'linear', symbol: 'BTCUSDT' });
  results.position_size = positions.result.list[0].size;

  const wsApi = new WebsocketAPIClient({ key, secret, wsUrl: `${wsUrl}/v5/trade` }, silent);
  const reply = await withTimeout(
    wsApi.submitNewOrder({
      category: 'linear', symbol: 'BTCUSDT', side: 'Sell', orderType: 'Market', qty: '0.01', orderLinkId: 'node-ws-1',
    }),
    5000,
    'ws api order',
  );
  results.ws_order = reply.retCode;
  results.ws_order_link_id = reply.data.orderLinkId;
  ws.closeAll(true);
  wsApi.getWSClient().closeAll(true);
  console.log(JSON.stringify(results));
  process.exit(0);
}

main().catch((err) => {
  console.log(JSON.stringify({ error: String(err && (err.message || err)), results, detail: err && err.body }));
  process.exit(1);
});
