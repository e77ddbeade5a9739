/**
 * What a heap snapshot holds, by constructor, and what one more cached workflow costs: compares two snapshots of the
 * workflow thread taken after the same chat with N and 2N conversations (bench/workflow-heap-snapshot.ts).
 *
 *   node bench/heap-by-constructor.ts small.heapsnapshot large.heapsnapshot [workflows added] [rows]
 *
 * Per group (`object Foo`, `closure bar`, `string`, `array (object elements)`, …): count and self size in each, and
 * the difference divided by the workflows added; retained size (dominator tree, weak edges ignored, as DevTools
 * computes it) of the group's outermost objects, those not dominated by one of the same group.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Groups {
  count: Map<string, number>;
  self: Map<string, number>;
  retained: Map<string, number>;
  total: number;
}

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

export function groupsOf(file: string): Groups {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const N = nf.length;
  const E = ef.length;
  const [typeAt, nameAt, selfAt, edgeCountAt] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [edgeTypeAt, toAt] = ['type', 'to_node'].map((f) => ef.indexOf(f)) as [number, number];
  const nodeTypes = s.snapshot.meta.node_types[0];
  const weak = s.snapshot.meta.edge_types[0].indexOf('weak');
  const n = s.nodes.length / N;

  const key = (i: number): string => {
    const type = nodeTypes[s.nodes[i * N + typeAt]!]!;
    const name = s.strings[s.nodes[i * N + nameAt]!]!;
    if (type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'array' || type === 'code') return `${type} ${name.length > 60 ? `${name.slice(0, 57)}…` : name}`;
    return type; // strings, numbers, …: their names are their values
  };

  // Forward edges as offsets (CSR), weak ones left out.
  const firstEdge = new Uint32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e;
    e += s.nodes[i * N + edgeCountAt]! * E;
    firstEdge[i + 1] = e;
  }
  const succ = (i: number, f: (j: number) => void) => {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += E) if (s.edges[e + edgeTypeAt] !== weak) f(s.edges[e + toAt]! / N);
  };

  // Depth-first post-order from the root (node 0).
  const order = new Int32Array(n).fill(-1);
  const post: number[] = [];
  const stack: number[] = [0];
  const cursor = new Uint32Array(n);
  order[0] = -2;
  for (let i = 0; i < n; i++) cursor[i] = firstEdge[i]!;
  while (stack.length) {
    const v = stack[stack.length - 1]!;
    let pushed = false;
    while (cursor[v]! < firstEdge[v + 1]!) {
      const e = cursor[v]!;
      cursor[v] = e + E;
      if (s.edges[e + edgeTypeAt] === weak) continue;
      const w = s.edges[e + toAt]! / N;
      if (order[w] === -1) {
        order[w] = -2;
        stack.push(w);
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      order[v] = post.length;
      post.push(v);
      stack.pop();
    }
  }

  // Predecessors of reachable nodes, then Cooper–Harvey–Kennedy's iterative dominators over post-order numbers.
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (const v of post) succ(v, (w) => preds[w]!.push(v));
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (order[a]! < order[b]!) a = idom[a]!;
      while (order[b]! < order[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = post.length - 2; k >= 0; k--) {
      const v = post[k]!;
      let d = -1;
      for (const p of preds[v]!) if (idom[p] !== -1) d = d === -1 ? p : intersect(p, d);
      if (d !== -1 && idom[v] !== d) {
        idom[v] = d;
        changed = true;
      }
    }
  }

  const retained = new Float64Array(n);
  for (const v of post) retained[v] = retained[v]! + s.nodes[v * N + selfAt]!;
  for (const v of post) if (v !== 0) retained[idom[v]!] = retained[idom[v]!]! + retained[v]!;

  const g: Groups = { count: new Map(), self: new Map(), retained: new Map(), total: 0 };
  const keys = new Map<number, string>();
  for (const v of post) {
    const k = key(v);
    keys.set(v, k);
    add(g.count, k, 1);
    add(g.self, k, s.nodes[v * N + selfAt]!);
    g.total += s.nodes[v * N + selfAt]!;
  }
  for (const v of post) {
    if (v === 0) continue;
    const k = keys.get(v)!;
    let outermost = true;
    for (let d = idom[v]!; d !== 0; d = idom[d]!) {
      if (keys.get(d) === k) {
        outermost = false;
        break;
      }
    }
    if (outermost) add(g.retained, k, retained[v]!);
  }
  return g;
}

if (import.meta.main) {
  const [smallFile, largeFile, addedArg, rowsArg] = process.argv.slice(2);
  if (!smallFile || !largeFile) {
    console.error('usage: node bench/heap-by-constructor.ts small.heapsnapshot large.heapsnapshot [workflows added] [rows]');
    process.exit(2);
  }
  const added = Number(addedArg ?? 1);
  const rows = Number(rowsArg ?? 40);
  const a = groupsOf(smallFile);
  const b = groupsOf(largeFile);
  const kb = (x: number) => (x / 1024).toFixed(1);
  console.log(`reachable self size: ${kb(a.total)} KB → ${kb(b.total)} KB; per workflow added (${added}): ${kb((b.total - a.total) / added)} KB`);
  const groups = [...new Set([...a.self.keys(), ...b.self.keys()])]
    .map((k) => ({ k, dc: (b.count.get(k) ?? 0) - (a.count.get(k) ?? 0), ds: (b.self.get(k) ?? 0) - (a.self.get(k) ?? 0), dr: (b.retained.get(k) ?? 0) - (a.retained.get(k) ?? 0), r: b.retained.get(k) ?? 0 }))
    .sort((x, y) => y.ds - x.ds);
  console.log(['group', 'count +/wf', 'self KB +/wf', 'retained KB +/wf', 'retained KB (large)'].join('\t'));
  for (const x of groups.slice(0, rows)) console.log([x.k, (x.dc / added).toFixed(1), kb(x.ds / added), kb(x.dr / added), kb(x.r)].join('\t'));
}
