/** Limits resolution (src/stomp/limits.ts): what a parser uses for the limits it is given. */

import t from 'tap';
import { DEFAULT_PARSER_LIMITS, limitsFor, parserLimits } from '../../src/stomp/limits.js';

t.test('a set from parserLimits() is used as it is; anything else is resolved anew', async (t) => {
  const shared = parserLimits({ maxHeaders: 3 });
  t.equal(limitsFor(shared), shared, 'shared, not copied');
  const plain = { ...DEFAULT_PARSER_LIMITS, maxHeaders: 3 };
  const resolved = limitsFor(plain);
  t.not(resolved, plain, 'a complete plain object is copied');
  t.same(resolved, plain);
  t.ok(Object.isFrozen(resolved));
  t.not(limitsFor(DEFAULT_PARSER_LIMITS), DEFAULT_PARSER_LIMITS, 'even the frozen defaults, which parserLimits() did not make');
  t.same(limitsFor(undefined), DEFAULT_PARSER_LIMITS);
  t.same(limitsFor({ maxFrameBytes: 10 }), { ...DEFAULT_PARSER_LIMITS, maxFrameBytes: 10 }, 'defaults fill the rest');
  t.same(limitsFor({ maxFrameBytes: undefined }), DEFAULT_PARSER_LIMITS, 'undefined is left out');
});

t.test('every limit must be a positive safe integer', async (t) => {
  for (const key of Object.keys(DEFAULT_PARSER_LIMITS) as (keyof typeof DEFAULT_PARSER_LIMITS)[]) {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
      t.throws(() => limitsFor({ [key]: bad }), RangeError, `${key} ${bad}`);
      t.throws(() => parserLimits({ [key]: bad }), RangeError, `parserLimits ${key} ${bad}`);
    }
    t.equal(limitsFor({ [key]: 1 })[key], 1, `${key} 1`);
  }
});
