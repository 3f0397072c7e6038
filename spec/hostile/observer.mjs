// A well-behaved STOMP session in a process of its own, for the hostile-client
// run: it connects over WebSocket, subscribes to its own topic and publishes to
// it every PERIOD ms, and measures each message's round trip through the node.
// Kept out of the attacking process so that what it measures is the node, not
// the attack generator's event loop. Line protocol on stdout (JSON):
//   {"event":"ready"}                          once subscribed
//   {"event":"done", sent, received, ms: [..], at: [..]} after "stop\n" on stdin
//                                              (round trips, and when each was measured)
// Usage: node spec/hostile/observer.mjs ws://127.0.0.1:PORT/ws [periodMs]
import WebSocket from 'ws';

const url = process.argv[2];
const PERIOD = Number(process.argv[3] ?? 10);
const topic = `/topic/observer-${process.pid}`;
const sentAt = new Map();
const latencies = [];
/** Wall-clock time each latency was measured (to attribute it to a phase of the run). */
const stamps = [];
let sent = 0;
let timer = null;
let buf = '';

const ws = new WebSocket(url, ['v12.stomp']);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

ws.on('open', () => ws.send('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:observer\nheart-beat:0,0\n\n\0'));
ws.on('message', (data) => {
  buf += data.toString();
  let end;
  while ((end = buf.indexOf('\0')) >= 0) {
    const frame = buf.slice(0, end).replace(/^\n+/, '');
    buf = buf.slice(end + 1);
    const command = frame.slice(0, frame.indexOf('\n'));
    if (command === 'CONNECTED') ws.send(`SUBSCRIBE\nid:o\ndestination:${topic}\nreceipt:sub\n\n\0`);
    else if (command === 'RECEIPT') start();
    else if (command === 'MESSAGE') {
      const m = /\nseq:(\d+)\n/.exec(frame);
      const at = m && sentAt.get(Number(m[1]));
      if (at !== undefined && at !== null) {
        latencies.push(performance.now() - at);
        stamps.push(Date.now());
        sentAt.delete(Number(m[1]));
      }
    } else if (command === 'ERROR') {
      say({ event: 'error', frame });
    }
  }
});
ws.on('close', () => say({ event: 'closed' }));
ws.on('error', (err) => say({ event: 'error', message: String(err) }));

function start() {
  say({ event: 'ready' });
  timer = setInterval(() => {
    const seq = ++sent;
    sentAt.set(seq, performance.now());
    ws.send(`SEND\ndestination:${topic}\nseq:${seq}\n\nping\0`);
  }, PERIOD);
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  if (!d.includes('stop')) return;
  clearInterval(timer);
  // Let the last ones come back (bounded), then report.
  const deadline = Date.now() + 2000;
  const finish = () => {
    if (sentAt.size > 0 && Date.now() < deadline) return void setTimeout(finish, 20);
    say({ event: 'done', sent, received: latencies.length, ms: latencies, at: stamps });
    ws.close();
    process.exit(0);
  };
  finish();
});
