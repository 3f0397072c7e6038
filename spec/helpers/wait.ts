/**
 * Bounded waiting for tests: poll a condition until it holds or a deadline
 * passes. Never a fixed sleep used as synchronisation.
 */

export interface WaitOptions {
  /** Give up after this long (ms). Default 5000. */
  timeoutMs?: number;
  /** Poll period (ms). Default 10. */
  intervalMs?: number;
  /** What was awaited, for the error message. */
  what?: string;
}

/** Resolves with the first truthy value of `check()`; rejects at the deadline. */
export async function waitFor<T>(check: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
      lastErr = undefined;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      const why = lastErr instanceof Error ? ` (last error: ${lastErr.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Races `p` against a deadline. */
export async function within<T>(p: Promise<T>, timeoutMs: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Event-driven waiting: `until(pred)` re-checks `pred` every time `wake()` is
 * called (whenever what it looks at may have changed) and gives up after
 * `ms`. A `pred` that throws rejects the wait with that error.
 */
export class Waiters {
  private waiting: Array<() => void> = [];

  /** Re-check every pending `until`. */
  wake(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }

  /** Resolves with the first truthy value of `pred`; `detail` adds what was seen to the timeout error. */
  until<T>(pred: () => T | undefined | null | false, ms: number, what: string, detail?: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== loop);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}${detail ? `; ${detail()}` : ''}`));
      }, ms);
      const loop = (): void => {
        let v: T | undefined | null | false;
        try {
          v = pred();
        } catch (err) {
          clearTimeout(timer);
          reject(err as Error);
          return;
        }
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else this.waiting.push(loop);
      };
      loop();
    });
  }
}
