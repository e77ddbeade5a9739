/**
 * Guard: no two test files chat as the same WhatsApp customer of the same shop. Every test file runs on one Temporal
 * namespace, and a customer's conversation workflow id is `conversation:<shopId>:<customerRef>` (the ref a keyed hash
 * of the WhatsApp id), so two files using one wa_id for one shop drive one workflow: each file's messages are answered
 * in whichever run holds it (it happened: the Flows journey and the catalog-stock journey shared ids).
 *
 * It reads the test sources (TypeScript's parser, no type checking) for the places a number is a customer's WhatsApp
 * id, and for the shop it writes to:
 * - `new Customer(duka, SHOP, '2547…')` (test/helpers/chat.ts) and a sandbox chat `chat.open(url, SHOP, '2547…')`;
 * - the sender of an inbound message built by test/fakes/graph-api.ts (`textMessage('2547…', …)`, `buttonReply`, …),
 *   with the shop of the `deliver(SHOP, …)` or `buildInboundWebhook({ phoneNumberId })` around it;
 * - `deliver(SHOP, messages, { from: '2547…' })`.
 * A number is a literal, a `const` holding one in an enclosing scope, or a parameter of a helper of the same file
 * (`prompted(waId)`, read at each call). Other numbers (parsers' fixtures, phone validation, payment payloads) are not
 * customers and are not read, nor are files with no conversation on the shared Temporal server (parsers, the API over
 * a fake Temporal): only files that start duka with its worker (`startDuka`, `startWorld`, `startSandboxDuka`) count.
 * The sandbox harness keys customer refs under another secret than startDuka's, but an id is not shared across the
 * two either: one secret for all would make it a clash. Within one file an id may recur: its tests run in turn.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';

const TEST_ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPO_ROOT = join(TEST_ROOT, '..');

/** The demo shops' WhatsApp phone_number_ids (README, Demo data). */
const DEMO_SHOPS: Record<string, string> = { '100000000000001': 'nairobi', '100000000000002': 'harare', '100000000000003': 'pune' };
const MESSAGE_BUILDERS = new Set(['textMessage', 'buttonReply', 'listReply', 'flowReply', 'orderMessage', 'locationMessage', 'templateButtonReply']);
const WHATSAPP_ID = /^[1-9]\d{7,14}$/;
/** The harnesses that run duka's worker on the run's shared Temporal namespace (test/helpers/duka.ts and its users). */
const RUNS_CONVERSATIONS = /\b(startDuka|startWorld|startSandboxDuka)\(/;

export interface CustomerUse {
  file: string;
  line: number;
  shop: string;
  waId: string;
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'histories' ? [] : testFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** `export const NAME = 'literal'` of the shared helpers (NAIROBI, HARARE, PUNE …), for names a test imports. */
function sharedConstants(files: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of files.filter((f) => !f.endsWith('.test.ts'))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    for (const statement of source.statements) {
      if (!ts.isVariableStatement(statement) || !statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
      for (const d of statement.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.initializer && ts.isStringLiteralLike(d.initializer)) found.set(d.name.text, d.initializer.text);
      }
    }
  }
  return found;
}

/**
 * The strings a node stands for: a literal; a `const` initialised with one in a scope around it (nearest first); or
 * a parameter of a helper declared in the same file (`prompted(waId)`), read at every call of that helper.
 */
function valuesOf(node: ts.Node | undefined, shared: Map<string, string>, depth = 0): string[] {
  if (!node || depth > 4) return [];
  if (ts.isStringLiteralLike(node)) return [node.text];
  if (!ts.isIdentifier(node)) return [];
  for (let scope: ts.Node | undefined = node.parent; scope; scope = scope.parent) {
    if (ts.isFunctionLike(scope)) {
      const index = scope.parameters.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === node.text);
      if (index >= 0) return callsOf(scope).flatMap((call) => valuesOf(call.arguments[index], shared, depth + 1));
    }
    const statements = ts.isBlock(scope) || ts.isSourceFile(scope) || ts.isModuleBlock(scope) ? scope.statements : undefined;
    for (const statement of statements ?? []) {
      if (!ts.isVariableStatement(statement) || !(statement.declarationList.flags & ts.NodeFlags.Const)) continue;
      for (const d of statement.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.name.text === node.text) return d.initializer && ts.isStringLiteralLike(d.initializer) ? [d.initializer.text] : [];
      }
    }
  }
  const value = shared.get(node.text);
  return value === undefined ? [] : [value];
}

/** The calls, in its file, of a helper declared as `function name(…)` or `const name = (…) =>`. */
function callsOf(fn: ts.SignatureDeclaration): ts.CallExpression[] {
  const name = fn.name && ts.isIdentifier(fn.name) ? fn.name.text : ts.isVariableDeclaration(fn.parent) && ts.isIdentifier(fn.parent.name) ? fn.parent.name.text : undefined;
  if (!name) return [];
  const calls: ts.CallExpression[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === name) calls.push(node);
    ts.forEachChild(node, visit);
  };
  visit(fn.getSourceFile());
  return calls;
}

function calleeName(call: ts.CallExpression | ts.NewExpression): string | undefined {
  const e = call.expression;
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  return undefined;
}

const shopsOf = (phoneNumberIds: string[]) => phoneNumberIds.map((id) => DEMO_SHOPS[id] ?? id);

/**
 * The shop an inbound message is sent to: the `deliver(SHOP, …)` or `buildInboundWebhook({ phoneNumberId })` around
 * it, or around each call of the helper of this file that builds it.
 */
function enclosingShops(node: ts.Node, shared: Map<string, string>, depth = 0): string[] {
  for (let up: ts.Node | undefined = node.parent; up && depth <= 4; up = up.parent) {
    if (ts.isCallExpression(up)) {
      const name = calleeName(up);
      if (name === 'deliver') return shopsOf(valuesOf(up.arguments[0], shared));
      if (name === 'buildInboundWebhook') {
        const options = up.arguments[0];
        const property = options && ts.isObjectLiteralExpression(options) ? options.properties.find((p) => p.name && ts.isIdentifier(p.name) && p.name.text === 'phoneNumberId') : undefined;
        return shopsOf(property && ts.isPropertyAssignment(property) ? valuesOf(property.initializer, shared) : []);
      }
    }
    if (ts.isFunctionLike(up)) {
      const calls = callsOf(up);
      if (calls.length) return calls.flatMap((call) => enclosingShops(call, shared, depth + 1));
    }
  }
  return [];
}

export function customerUses(file: string, text: string, shared: Map<string, string>): CustomerUse[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const uses: CustomerUse[] = [];
  const add = (at: ts.Node, shops: string[], waIds: string[]) => {
    const line = source.getLineAndCharacterOfPosition(at.getStart(source)).line + 1;
    for (const shop of shops) for (const waId of waIds.filter((id) => WHATSAPP_ID.test(id))) uses.push({ file, line, shop, waId });
  };
  const visit = (node: ts.Node) => {
    if (ts.isNewExpression(node) || ts.isCallExpression(node)) {
      const name = calleeName(node);
      const args = node.arguments ?? ts.factory.createNodeArray();
      if ((ts.isNewExpression(node) && name === 'Customer') || (ts.isCallExpression(node) && name === 'open' && ts.isPropertyAccessExpression(node.expression) && args.length >= 3)) {
        add(node, shopsOf(valuesOf(args[1], shared)), valuesOf(args[2], shared));
      } else if (ts.isCallExpression(node) && name !== undefined && MESSAGE_BUILDERS.has(name)) {
        add(node, enclosingShops(node, shared), valuesOf(args[0], shared));
      } else if (ts.isCallExpression(node) && name === 'deliver' && args[2] && ts.isObjectLiteralExpression(args[2])) {
        const from = args[2].properties.find((p) => p.name && ts.isIdentifier(p.name) && p.name.text === 'from');
        if (from && ts.isPropertyAssignment(from)) add(node, shopsOf(valuesOf(args[0], shared)), valuesOf(from.initializer, shared));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

/** Each shop and WhatsApp id used by more than one file, with where. */
export function clashes(uses: CustomerUse[]): string[] {
  const byKey = new Map<string, CustomerUse[]>();
  for (const use of uses) byKey.set(`${use.shop} ${use.waId}`, [...(byKey.get(`${use.shop} ${use.waId}`) ?? []), use]);
  return [...byKey.entries()]
    .filter(([, all]) => new Set(all.map((u) => u.file)).size > 1)
    .map(([key, all]) => `${key}: ${[...new Set(all.map((u) => `${relative(REPO_ROOT, u.file)}:${u.line}`))].join(', ')}`);
}

describe('WhatsApp customers of the test files', () => {
  const files = testFiles(TEST_ROOT);
  const shared = sharedConstants(files);

  it('reads the ways a test chats as a customer (so the guard below is seen to find them)', () => {
    const uses = customerUses(
      'example.test.ts',
      `const OTHER = '100000000000077';
      const c = new Customer(duka, NAIROBI, '254712345001');
      test('x', async () => {
        const waId = '263772000001';
        const d = new Customer(w.duka, HARARE, waId);
        await duka.deliver(PUNE, [textMessage('919812000001', 'hi'), buttonReply(waId, 'id', 'title')]);
        await chat.open(duka.baseUrl, OTHER, '254712000002', 'Neema');
        await duka.deliver(NAIROBI, [], { from: '254712000003' });
        buildInboundWebhook({ phoneNumberId: NAIROBI, messages: [listReply('254712000004', 'row', 'Row')] });
      });
      async function prompted(waId: string) {
        return new Customer(w.duka, NAIROBI, waId);
      }
      const paid = (id: string) => prompted(id);
      const hello = (waId: string) => textMessage(waId, 'hello');
      await duka.deliver(HARARE, [hello('263772000009')]);
      test('y', async () => { await prompted('254712000007'); await paid('254712000008'); });
      // Not customers: a parser's fixture without a shop, a phone check, a payment payload.
      parseWebhook(textMessage('254700000009', 'hi'));
      expect(isMobile('254712000005', 'KE')).toBe(true);
      provider.initiate({ customerPhone: '254712000006' });`,
      shared,
    );
    expect(uses.map(({ shop, waId }) => `${shop} ${waId}`)).toEqual([
      'nairobi 254712345001',
      'harare 263772000001',
      'pune 919812000001',
      'pune 263772000001',
      '100000000000077 254712000002',
      'nairobi 254712000003',
      'nairobi 254712000004',
      'nairobi 254712000008',
      'nairobi 254712000007',
      'harare 263772000009',
    ]);
    expect(clashes([...uses, { file: 'other.test.ts', line: 3, shop: 'nairobi', waId: '254712345001' }, { file: 'other.test.ts', line: 4, shop: 'harare', waId: '254712345001' }])).toEqual([
      'nairobi 254712345001: example.test.ts:2, other.test.ts:3',
    ]);
  });

  it('no two test files use the same WhatsApp id for the same shop', () => {
    const uses = files
      .filter((f) => f.endsWith('.test.ts'))
      .map((file) => ({ file, text: readFileSync(file, 'utf8') }))
      .filter(({ text }) => RUNS_CONVERSATIONS.test(text))
      .flatMap(({ file, text }) => customerUses(file, text, shared));
    // The journeys are there to be guarded: a parser that found nothing would pass any tree.
    expect(uses.length).toBeGreaterThan(100);
    expect(clashes(uses)).toEqual([]);
  });
});
