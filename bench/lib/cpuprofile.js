#!/usr/bin/env node
// Summarize a V8 .cpuprofile (node --cpu-prof): self time by function and by
// file, and inclusive time of the hottest functions. Used to explain where a
// benchmark's server time goes:
//
//   node bench/lib/cpuprofile.js bench/results/prof/stomp-server.cpuprofile [--top 40] [--filter dist/]
import { readFileSync } from 'node:fs';
import path from 'node:path';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/lib/cpuprofile.js FILE.cpuprofile [--top N] [--filter SUBSTRING]');
  process.exit(1);
}
const opt = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const TOP = Number(opt('top', 40));
const FILTER = opt('filter', null);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Time per sample = delta to the next sample.
const self = new Map();
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i + 1] ?? 0;
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + dt);
  total += dt;
}
const short = (url) => {
  if (!url) return '(native)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 13);
  const d = u.indexOf('/dist/');
  if (d >= 0) return u.slice(d + 1);
  return u.startsWith('node:') ? u : path.basename(u);
};
const key = (n) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const bySelf = new Map();
const byFile = new Map();
const inclusive = new Map();
for (const [id, t] of self) {
  const n = nodes.get(id);
  const k = key(n);
  bySelf.set(k, (bySelf.get(k) ?? 0) + t);
  const f = short(n.callFrame.url);
  byFile.set(f, (byFile.get(f) ?? 0) + t);
  // Inclusive: charge each distinct function on the stack once.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = key(nodes.get(cur));
    if (seen.has(kk)) continue;
    seen.add(kk);
    inclusive.set(kk, (inclusive.get(kk) ?? 0) + t);
  }
}
const pct = (t) => ((t / total) * 100).toFixed(1).padStart(5) + '%';
const ms = (t) => (t / 1000).toFixed(0).padStart(7) + ' ms';
const show = (title, m) => {
  console.log(`\n## ${title}`);
  [...m]
    .filter(([k]) => !FILTER || k.includes(FILTER))
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)
    .forEach(([k, t]) => console.log(`${pct(t)} ${ms(t)}  ${k}`));
};
console.log(`total sampled ${(total / 1000).toFixed(0)} ms`);
show('self time by file', byFile);
show('self time by function', bySelf);
show('inclusive time by function', inclusive);
