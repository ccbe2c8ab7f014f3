// Drives the emulator with the unmodified Node SDK `bybit-api`: REST, the public order book
// stream (snapshot + deltas), the private stream (auth, order pushes) and the WS API
// (submitNewOrder / amendOrder / cancelOrder).
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

// Resolves with the first `update` frame that satisfies `pred` (checked on every later frame too).
function nextUpdate(ws, pred) {
  return new Promise((resolve) => {
    const onUpdate = (msg) => {
      if (pred(msg)) {
        ws.off('update', onUpdate);
        resolve(msg);
      }
    };
    ws.on('update', onUpdate);
  });
}

// Public stream: one snapshot, then deltas whose `u` follows it by +1 each (PROTOCOL §5.3);
// the book built from them must never delete a level it does not hold.
async function publicBook() {
  const ws = new WebsocketClient({ wsUrl: `${wsUrl}/v5/public/linear` }, silent);
  const frames = [];
  const enough = new Promise((resolve) => {
    ws.on('update', (msg) => {
      if (msg.topic !== 'orderbook.50.BTCUSDT') return;
      frames.push(msg);
      if (frames.length >= 6) resolve();
    });
  });
  ws.subscribeV5(['orderbook.50.BTCUSDT'], 'linear');
  await withTimeout(enough, 5000, 'order book frames');
  ws.closeAll(true);
  const book = { b: new Map(), a: new Map() };
  let lastU = null;
  let deltas = 0;
  for (const [i, f] of frames.entries()) {
    if (i === 0 && f.type !== 'snapshot') throw new Error(`first book frame is ${f.type}`);
    if (f.type === 'snapshot') {
      book.b.clear();
      book.a.clear();
    } else {
      deltas += 1;
      if (f.data.u !== lastU + 1) throw new Error(`delta u ${f.data.u} after ${lastU}`);
    }
    lastU = f.data.u;
    for (const side of ['b', 'a']) {
      for (const [price, size] of f.data[side]) {
        if (size === '0') {
          if (!book[side].delete(price)) throw new Error(`delete of absent level ${side} ${price}`);
        } else {
          book[side].set(price, size);
        }
      }
    }
  }
  const bestBid = Math.max(...[...book.b.keys()].map(Number));
  const bestAsk = Math.min(...[...book.a.keys()].map(Number));
  if (!(bestBid < bestAsk)) throw new Error(`crossed book ${bestBid} >= ${bestAsk}`);
  results.book_snapshot = frames[0].type;
  results.book_deltas = deltas;
  results.book_levels = [book.b.size, book.a.size];
}

async function main() {
  const rest = new RestClientV5({ key, secret, baseUrl: restUrl });
  const wallet = await rest.getWalletBalance({ accountType: 'UNIFIED' });
  results.wallet = wallet.retCode;
  const status = await rest.getSystemStatus();
  results.status = status.retCode;

  await publicBook();

  const ws = new WebsocketClient({ key, secret, wsUrl: `${wsUrl}/v5/private` }, silent);
  const authenticated = new Promise((resolve) => ws.on('authenticated', resolve));
  const subscribed = new Promise((resolve) => {
    ws.on('response', (msg) => {
      if (msg.op === 'subscribe' && msg.success) resolve(msg);
    });
  });
  ws.subscribeV5(['order'], 'linear');
  await withTimeout(authenticated, 5000, 'private auth');
  results.private_auth = true;
  await withTimeout(subscribed, 5000, 'private subscribe ack');
  results.private_subscribed = true;

  const restPush = nextUpdate(ws, (m) => m.topic === 'order' && m.data.some((o) => o.orderLinkId === 'node-rest-1'));
  const order = await rest.submitOrder({
    category: 'linear', symbol: 'BTCUSDT', side: 'Buy', orderType: 'Market', qty: '0.01', orderLinkId: 'node-rest-1',
  });
  results.rest_order = order.retCode;
  const push = await withTimeout(restPush, 5000, 'order push');
  results.push_link_id = push.data.find((o) => o.orderLinkId === 'node-rest-1').orderLinkId;
  const positions = await rest.getPositionInfo({ category: 'linear', symbol: 'BTCUSDT' });
  results.position_size = positions.result.list[0].size;

  // WS API: a resting limit order, amended, then cancelled; each step is confirmed by an order push.
  const ticker = await rest.getTickers({ category: 'linear', symbol: 'BTCUSDT' });
  const price = (Math.floor(Number(ticker.result.list[0].bid1Price) * 0.9 * 10) / 10).toFixed(1);
  const wsApi = new WebsocketAPIClient({ key, secret, wsUrl: `${wsUrl}/v5/trade` }, silent);
  const pushFor = (status, qty) => nextUpdate(ws, (m) => m.topic === 'order'
    && m.data.some((o) => o.orderLinkId === 'node-ws-1' && o.orderStatus === status && o.qty === qty));

  let pushed = pushFor('New', '0.010');
  const created = await withTimeout(wsApi.submitNewOrder({
    category: 'linear', symbol: 'BTCUSDT', side: 'Buy', orderType: 'Limit', qty: '0.01', price, orderLinkId: 'node-ws-1',
  }), 5000, 'ws api order.create');
  results.ws_order = created.retCode;
  results.ws_order_link_id = created.data.orderLinkId;
  await withTimeout(pushed, 5000, 'push after order.create');

  pushed = pushFor('New', '0.020');
  const amended = await withTimeout(wsApi.amendOrder({
    category: 'linear', symbol: 'BTCUSDT', orderLinkId: 'node-ws-1', qty: '0.02',
  }), 5000, 'ws api order.amend');
  results.ws_amend = amended.retCode;
  await withTimeout(pushed, 5000, 'push after order.amend');

  pushed = pushFor('Cancelled', '0.020');
  const cancelled = await withTimeout(wsApi.cancelOrder({
    category: 'linear', symbol: 'BTCUSDT', orderLinkId: 'node-ws-1',
  }), 5000, 'ws api order.cancel');
  results.ws_cancel = cancelled.retCode;
  results.ws_cancel_order_id = cancelled.data.orderId === created.data.orderId;
  await withTimeout(pushed, 5000, 'push after order.cancel');

  // A business error comes back as a rejected promise carrying the exchange's retCode.
  try {
    await withTimeout(wsApi.cancelOrder({ category: 'linear', symbol: 'BTCUSDT', orderLinkId: 'node-ws-1' }), 5000, 'second cancel');
    results.ws_cancel_again = 0;
  } catch (err) {
    results.ws_cancel_again = err && err.retCode;
  }
  const open = await rest.getActiveOrders({ category: 'linear', symbol: 'BTCUSDT', orderLinkId: 'node-ws-1' });
  results.open_after = open.result.list.length;

  ws.closeAll(true);
  wsApi.getWSClient().closeAll(true);
  console.log(JSON.stringify(results));
  process.exit(0);
}

main().catch((err) => {
  console.log(JSON.stringify({ error: String(err && (err.message || err)), results, detail: err && err.body }));
  process.exit(1);
});
