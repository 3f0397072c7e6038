/** The parser's input buffers (src/stomp/input.ts) driven directly, as the parser drives them. */

import t from 'tap';
import { ParserInput } from '../../src/stomp/input.js';

const LF = 0x0a;
const NUL = 0x00;

const text = (input: ParserInput) => input.buf.toString('latin1', input.start);

t.test('a chunk added while nothing is live is worked inside, not copied', async (t) => {
  const input = new ParserInput(1024);
  t.equal(input.liveBytes, 0);
  t.equal(input.bufferedBytes, 0);
  const chunk = Buffer.from('SEND\n\n\0');
  input.add(chunk, 0);
  t.equal(input.buf, chunk, 'borrowed');
  t.equal(input.start, 0);
  t.equal(input.bufferedBytes, 7);
  t.equal(input.pull(0, LF), false, 'no tail to pull from');
  input.start = 7; // the parser consumed the frame
  input.settle(0);
  t.equal(input.bufferedBytes, 0);
  t.equal(input.buf.length, 0, 'nothing kept');
});

t.test('a frame spanning chunks: its bytes are owned, the next chunk is the tail, pulled a line at a time', async (t) => {
  const input = new ParserInput(1024);
  const first = Buffer.from('SEND\nx:');
  input.add(first, 0);
  const second = Buffer.from('1\ny:2\n\nbody\0NEXT');
  input.add(second, 0);
  t.not(input.buf, first, 'the unfinished frame moved to an owned buffer');
  t.equal(text(input), 'SEND\nx:');
  t.equal(input.bufferedBytes, first.length + second.length);
  t.equal(input.pull(0, LF), true);
  t.equal(text(input), 'SEND\nx:1\n', 'through the next LF');
  t.equal(input.pull(0, LF), true);
  t.equal(input.pull(0, LF), true);
  t.equal(text(input), 'SEND\nx:1\ny:2\n\n', 'the head');
  t.equal(input.pull(0, NUL), true);
  t.equal(text(input), 'SEND\nx:1\ny:2\n\nbody\0', 'up to and with the NUL');
  t.equal(input.bufferedBytes, first.length + second.length, 'pulling moves bytes, it does not add any');
  input.start = input.buf.length; // the parser consumed the frame
  input.leaveOwned();
  t.equal(input.buf, second, 'back inside the tail chunk');
  t.equal(text(input), 'NEXT');
  t.equal(input.pull(0, LF), false, 'the tail is the buffer now');
});

t.test('a sized frame: pull takes exactly the rest of it', async (t) => {
  const input = new ParserInput(1024);
  input.add(Buffer.from('SEND\ncontent-length:3\n\na'), 0);
  const frameBytes = 'SEND\ncontent-length:3\n\n'.length + 3 + 1;
  input.add(Buffer.from('b\0\0MORE'), frameBytes);
  t.equal(input.pull(frameBytes, NUL), true);
  t.equal(text(input), 'SEND\ncontent-length:3\n\nab\0\0', 'a NUL inside the length is taken, not stopped at');
  t.equal(input.liveBytes, frameBytes);
  input.start = input.buf.length;
  input.leaveOwned();
  t.equal(text(input), 'MORE');
});

t.test('pull never takes the frame more than one byte past maxFrameBytes', async (t) => {
  const input = new ParserInput(10);
  input.add(Buffer.from('SEND\n'), 0);
  input.add(Buffer.from('x'.repeat(100)), 0);
  t.equal(input.pull(0, LF), true);
  t.equal(input.liveBytes, 11, 'maxFrameBytes + 1: enough to see the excess');
  t.equal(input.bufferedBytes, 105);
});

t.test('settle keeps the unfinished frame of a borrowed chunk and the rest of a tail', async (t) => {
  const input = new ParserInput(1024);
  const chunk = Buffer.from('MESSAGE\n\nhello\0SEND\nx');
  input.add(chunk, 0);
  input.start = 15; // one frame consumed
  input.settle(0);
  t.not(input.buf.buffer, chunk.buffer, 'copied out of the chunk the caller may reuse');
  t.equal(text(input), 'SEND\nx');
  chunk.fill(0);
  t.equal(text(input), 'SEND\nx', 'unaffected by changes to the chunk');

  input.add(Buffer.from(':1\n\n\0rest'), 0);
  t.equal(input.pull(0, LF), true);
  input.settle(0); // e.g. a callback threw: the tail is not pulled any further
  t.equal(text(input), 'SEND\nx:1\n\n\0rest', 'the rest of the tail is kept after the live bytes');
  t.equal(input.bufferedBytes, 15);
  input.release();
  t.equal(input.bufferedBytes, 0);
  t.equal(input.liveBytes, 0);
});

t.test('an owned buffer whose consumed prefix outweighs its live bytes shrinks on settle', async (t) => {
  const input = new ParserInput(1 << 20);
  input.add(Buffer.alloc(5000, 'a'), 0);
  input.add(Buffer.alloc(5000, 'b'), 0);
  t.equal(input.pull(0, LF), true);
  const big = input.buf.buffer;
  input.start = 9990;
  input.settle(0);
  t.equal(input.start, 0);
  t.equal(input.liveBytes, 10);
  t.not(input.buf.buffer, big, 'a new, smaller buffer');
  t.ok(input.buf.buffer.byteLength < big.byteLength);
});

t.test('bytes handed out in a view are never overwritten; byte-by-byte input grows the owned buffer geometrically', async (t) => {
  const input = new ParserInput(1 << 20);
  input.add(Buffer.from('S'), 0);
  input.add(Buffer.from('E'), 0);
  t.equal(input.pull(0, LF), true);
  const view = input.buf.subarray(input.start, input.start + 2);
  const stores = new Set<ArrayBufferLike>([input.buf.buffer]);
  for (let i = 0; i < 100_000; i++) {
    input.add(Buffer.from([0x61 + (i % 26)]), 0);
    input.pull(0, LF);
    input.settle(0);
    stores.add(input.buf.buffer);
  }
  t.equal(input.liveBytes, 100_002);
  t.equal(view.toString(), 'SE');
  t.ok(stores.size < 12, `${stores.size} owned buffers for 100,002 bytes`);
});

t.test('reserve sizes the owned buffer for the whole frame at once', async (t) => {
  const input = new ParserInput(1 << 20);
  input.add(Buffer.from('SEND\ncontent-length:10000\n\n'), 0);
  input.add(Buffer.alloc(100, 'x'), 0);
  input.reserve(10_028);
  t.equal(input.buf.buffer.byteLength, 10_028, 'exactly the frame');
  t.equal(text(input), 'SEND\ncontent-length:10000\n\n', 'the live bytes kept');
  const store = input.buf.buffer;
  t.equal(input.pull(10_028, NUL), true);
  t.equal(input.buf.buffer, store, 'no regrowth while the body arrives');
});
