import t from 'tap';
import { startBroker } from '../helpers/broker.js';

t.test('CONNECT, subscribe to /user/queue/x, sendToUser reaches it', async (t) => {
  const b = await startBroker(t);
  const alice = await b.client();
  t.equal(alice.protocol, 'v12.stomp');
  const connected = await alice.connect({ login: 'alice' });
  t.equal(connected.headers['version'], '1.2');
  t.equal(connected.headers['user-name'], 'alice');
  t.ok(connected.headers['session']);
  t.match(connected.headers['server'], /^stomp-cluster\//);
  t.equal(connected.headers['heart-beat'], '1000,1000', 'the server offers its floor: the client decides each direction');
  await alice.subscribe('s1', '/user/queue/x');
  await b.broker.sendToUser('alice', '/queue/x', { hello: 'world' });
  const m = await alice.next('MESSAGE');
  t.equal(m.headers['destination'], '/user/queue/x');
  t.equal(m.headers['subscription'], 's1');
  t.equal(m.headers['content-type'], 'application/json');
  t.equal(m.headers['content-length'], String(m.body.length));
  t.same(JSON.parse(m.body.toString()), { hello: 'world' });
});
