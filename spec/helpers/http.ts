/** Plain HTTP requests for tests (no fetch: a test must be able to send any Origin/Cookie header). */
import http from 'node:http';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request; `readMs` gives up reading a streaming response after that long. */
export function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; readMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      const done = (): void => resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      // Streaming responses never end: give up reading after readMs.
      const timer = opts.readMs ? setTimeout(() => (req.destroy(), done()), opts.readMs) : null;
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (timer) clearTimeout(timer);
        done();
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => (opts.readMs ? undefined : reject(err)));
    req.setTimeout(5000, () => req.destroy(new Error(`timeout ${url}`)));
    req.end(opts.body);
  });
}
