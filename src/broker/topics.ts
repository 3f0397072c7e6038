/**
 * Local /topic subscriptions: exact destinations in a map; Ant patterns in a
 * tree keyed by their literal leading segments, one matcher per distinct
 * pattern.
 *
 * A publish looks at the patterns whose literal head is a prefix of its
 * destination only (one map lookup per destination segment), and runs each
 * distinct pattern once however many sessions share it (10,000 browsers on
 * `/topic/prices.*` cost one match). The distinct patterns of a node are
 * bounded (limits.maxTopicPatterns, STOMP_ERR_TOO_MANY_SUBSCRIPTIONS past it),
 * so no set of clients can make every publish scan an unbounded list.
 */
import { ErrorCode, StompError } from '../errors.js';
import type { Subscription } from '../session/subscription.js';
import { literalHead, type CompiledPattern } from './pattern.js';

interface PatternEntry {
  readonly pattern: CompiledPattern;
  readonly subs: Set<Subscription>;
  readonly node: PrefixNode;
}

interface PrefixNode {
  readonly segment: string;
  readonly parent: PrefixNode | null;
  /** Patterns whose literal head ends here, by source. */
  readonly entries: Map<string, PatternEntry>;
  readonly children: Map<string, PrefixNode>;
}

function prefixNode(segment: string, parent: PrefixNode | null): PrefixNode {
  return { segment, parent, entries: new Map(), children: new Map() };
}

export class TopicIndex {
  private readonly exact = new Map<string, Set<Subscription>>();
  private readonly root = prefixNode('', null);
  private readonly bySub = new Map<Subscription, PatternEntry>();
  private distinct = 0;

  /** `maxPatterns`: distinct patterns this index holds at most. */
  constructor(private readonly maxPatterns = Number.POSITIVE_INFINITY) {}

  /** Distinct patterns held. */
  get patterns(): number {
    return this.distinct;
  }

  /**
   * Index `sub`: by its destination, or by `pattern` when it subscribed with one.
   * Throws STOMP_ERR_TOO_MANY_SUBSCRIPTIONS (indexing nothing) for a new distinct
   * pattern past the bound.
   */
  add(sub: Subscription, pattern: CompiledPattern | null): void {
    if (pattern !== null) return this.addPattern(sub, pattern);
    let set = this.exact.get(sub.destination);
    if (!set) {
      set = new Set();
      this.exact.set(sub.destination, set);
    }
    set.add(sub);
  }

  remove(sub: Subscription): void {
    const e = this.bySub.get(sub);
    if (e) {
      this.bySub.delete(sub);
      e.subs.delete(sub);
      if (e.subs.size === 0) {
        e.node.entries.delete(e.pattern.source);
        this.distinct--;
        this.prune(e.node);
      }
      return;
    }
    const set = this.exact.get(sub.destination);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) this.exact.delete(sub.destination);
  }

  /** Every subscription matching a concrete destination. */
  match(destination: string): Subscription[] {
    const out: Subscription[] = [];
    const set = this.exact.get(destination);
    if (set) for (const s of set) out.push(s);
    if (this.distinct === 0) return out;
    let node: PrefixNode | undefined = this.root;
    let start = 0;
    for (;;) {
      collect(node, destination, out);
      const slash = destination.indexOf('/', start);
      node = node.children.get(slash < 0 ? destination.slice(start) : destination.slice(start, slash));
      if (node === undefined) break;
      if (slash < 0) {
        collect(node, destination, out);
        break;
      }
      start = slash + 1;
    }
    return out;
  }

  private addPattern(sub: Subscription, pattern: CompiledPattern): void {
    const head = literalHead(pattern.source);
    // Look before adding: a refusal leaves nothing behind.
    let found: PrefixNode | undefined = this.root;
    for (const seg of head) if ((found = found.children.get(seg)) === undefined) break;
    let entry = found?.entries.get(pattern.source);
    if (!entry) {
      if (this.distinct >= this.maxPatterns)
        throw new StompError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `this node holds ${this.distinct} distinct topic patterns (at most ${this.maxPatterns})`);
      let node = this.root;
      for (const seg of head) {
        let child = node.children.get(seg);
        if (!child) {
          child = prefixNode(seg, node);
          node.children.set(seg, child);
        }
        node = child;
      }
      entry = { pattern, subs: new Set(), node };
      node.entries.set(pattern.source, entry);
      this.distinct++;
    }
    entry.subs.add(sub);
    this.bySub.set(sub, entry);
  }

  /** Drop empty nodes from `node` up. */
  private prune(node: PrefixNode): void {
    let n: PrefixNode = node;
    while (n.parent !== null && n.entries.size === 0 && n.children.size === 0) {
      n.parent.children.delete(n.segment);
      n = n.parent;
    }
  }
}

function collect(node: PrefixNode, destination: string, out: Subscription[]): void {
  for (const e of node.entries.values()) if (e.pattern.match(destination) !== null) for (const s of e.subs) out.push(s);
}
