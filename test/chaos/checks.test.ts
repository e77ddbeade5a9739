import { describe, expect, it } from '@jest/globals';
import {
  checkAll,
  figure,
  FIGURES,
  lineDifferences,
  receiptOrder,
  type ChaosFindings,
  type ChaosSnapshot,
  type JourneyRecord,
  type OrderFact,
} from '../../bench/chaos/checks.ts';

/**
 * The checks of `npm run chaos` (bench/chaos/checks.ts) over made-up runs: a clean run gives 0 everywhere, and each
 * fault the chaos is there to find moves its own figure. A check that cannot fail would let every run pass.
 */

const text = (to: string, body: string, intent: string, at: number) => ({ to, at, body: { messaging_product: 'whatsapp', to, type: 'text', text: { body }, biz_opaque_callback_data: intent } });
const PROMPT = '📲 Check your phone: approve the M-Pesa payment of KES 3,800 with your PIN.';

function journey(over: Partial<JourneyRecord> = {}): JourneyRecord {
  return {
    id: 1,
    phone: '254711000001',
    shopId: 'nairobi',
    customerRef: 'ref-1',
    method: 'mpesa',
    lines: { 'nairobi-coffee': 2, 'nairobi-honey': 1 },
    unconfirmed: {},
    orderNumber: 'NBO-1001',
    finished: true,
    stuckAt: null,
    paymentRetries: 0,
    lastMessage: null,
    slowest: null,
    lateAnswerMs: null,
    ...over,
  };
}

function order(over: Partial<OrderFact> = {}): OrderFact {
  const items = [
    { productId: 'nairobi-coffee', quantity: 2 },
    { productId: 'nairobi-honey', quantity: 1 },
  ];
  return {
    number: 'NBO-1001',
    customerRef: 'ref-1',
    status: 'PAID',
    paymentStatus: 'SUCCEEDED',
    items,
    successfulPayments: 1,
    workflow: { status: 'PAID', paymentStatus: 'SUCCEEDED', attention: null, items, successfulPayments: 1 },
    ...over,
  };
}

/** One customer who bought two coffees and a honey, paid once by M-Pesa and got one receipt. */
function cleanRun(): ChaosSnapshot {
  return {
    journeys: [journey()],
    charges: [{ provider: 'mpesa', id: 'ws_CO_1', phone: '254711000001' }],
    orders: [order()],
    missingRows: [],
    // "hi" at 1 s, "2" at 2 s, "pay:mpesa" at 3 s.
    inbound: [1_000, 2_000, 3_000].map((at) => ({ from: '254711000001', at })),
    outbound: [
      text('254711000001', 'Hi! 👋 Welcome to Nairobi.', 'dk1.a', 1_100),
      text('254711000001', 'Added 2 × Premium Coffee. Cart subtotal: KES 3,000.', 'dk1.b', 2_100),
      text('254711000001', PROMPT, 'dk1.c', 3_100),
      text('254711000001', '🧾 *Receipt — order NBO-1001*\n2 × Premium Coffee — KES 3,000\nThank you!', 'dk1.d', 9_000),
    ],
    failedWorkflows: [],
  };
}

function figures(findings: ChaosFindings): Record<string, number> {
  return Object.fromEntries(FIGURES.map(({ key }) => [key, figure(findings[key])]));
}

/** The figures that are not 0. */
const nonZero = (s: ChaosSnapshot) => Object.fromEntries(Object.entries(figures(checkAll(s))).filter(([, n]) => n > 0));

describe('chaos checks', () => {
  it('find nothing in a clean run', () => {
    expect(nonZero(cleanRun())).toEqual({});
  });

  it('count an order the customer was told of that has no row (and say whether its workflow exists)', () => {
    const s = cleanRun();
    s.orders = [];
    s.missingRows = [{ number: 'NBO-1001', workflow: null }];
    const found = checkAll(s).lostOrders;
    expect(found).toHaveLength(1);
    expect(found[0]!.detail).toMatch(/no row in PostgreSQL nor a workflow/);
  });

  it('count an order whose row exists but whose workflow does not answer', () => {
    const s = cleanRun();
    s.orders = [order({ workflow: null })];
    expect(nonZero(s)).toMatchObject({ lostOrders: 1 });
  });

  it('count a charge taken from a customer who has no order at all', () => {
    const s = cleanRun();
    s.journeys = [journey({ orderNumber: null, finished: false, stuckAt: 'order summary' })];
    s.orders = [];
    expect(nonZero(s)).toEqual({ lostOrders: 1, stuckJourneys: 1 });
  });

  it('count a line added twice in the workflow (a retried cart update) as a doubled line', () => {
    const s = cleanRun();
    s.orders = [order({ workflow: { ...order().workflow!, items: [{ productId: 'nairobi-coffee', quantity: 4 }, { productId: 'nairobi-honey', quantity: 1 }] } })];
    const found = checkAll(s).doubledLines;
    expect(found).toHaveLength(1);
    expect(found[0]!.detail).toContain('workflow: nairobi-coffee: asked 2, order has 4');
  });

  it('count duplicate order_item rows as a doubled line even when the workflow is right', () => {
    const s = cleanRun();
    s.orders = [order({ items: [...order().items, { productId: 'nairobi-coffee', quantity: 2 }] })];
    const found = checkAll(s).doubledLines;
    expect(found).toHaveLength(1);
    expect(found[0]!.detail).toContain('order_item rows: nairobi-coffee on more than one line');
  });

  it('accept an unacknowledged add either way, and nothing else', () => {
    const j = { lines: { 'nairobi-coffee': 2 }, unconfirmed: { 'nairobi-honey': 1 } };
    expect(lineDifferences(j, [{ productId: 'nairobi-coffee', quantity: 2 }])).toEqual([]);
    expect(lineDifferences(j, [{ productId: 'nairobi-coffee', quantity: 2 }, { productId: 'nairobi-honey', quantity: 1 }])).toEqual([]);
    expect(lineDifferences(j, [{ productId: 'nairobi-coffee', quantity: 2 }, { productId: 'nairobi-honey', quantity: 2 }])).toHaveLength(1);
    expect(lineDifferences(j, [{ productId: 'nairobi-coffee', quantity: 1 }])).toHaveLength(1);
  });

  it('count two charges for one order unless the order is flagged DOUBLE_PAYMENT', () => {
    const s = cleanRun();
    s.charges.push({ provider: 'mpesa', id: 'ws_CO_2', phone: '254711000001' });
    expect(nonZero(s)).toEqual({ unflaggedDoubleCharges: 1 });
    s.orders = [order({ workflow: { ...order().workflow!, attention: 'DOUBLE_PAYMENT', successfulPayments: 2 } })];
    expect(nonZero(s)).toEqual({});
  });

  it('count money taken for an order that is not paid, in the workflow or in the rows', () => {
    const s = cleanRun();
    s.orders = [order({ workflow: { ...order().workflow!, status: 'AWAITING_PAYMENT', paymentStatus: 'PENDING' } })];
    expect(nonZero(s)).toEqual({ chargedNotPaid: 1 });
    s.orders = [order({ status: 'CHECKOUT', paymentStatus: 'EXPIRED', successfulPayments: 0 })];
    expect(checkAll(s).chargedNotPaid[0]!.detail).toMatch(/row CHECKOUT\/EXPIRED, no successful payment row/);
  });

  it('count a send intent that reached Meta twice (a retried send that went out again)', () => {
    const s = cleanRun();
    s.inbound.push({ from: '254711000001', at: 2_150 });
    s.outbound.push(text('254711000001', 'Added 2 × Premium Coffee. Cart subtotal: KES 3,000.', 'dk1.b', 2_200));
    const found = checkAll(s).duplicateMessages;
    expect(nonZero(s)).toEqual({ duplicateMessages: 1 });
    expect(found[0]!.detail).toContain('(one send intent)');
  });

  it('count the same message again under a new intent when the customer said nothing in between (an event handled twice)', () => {
    const s = cleanRun();
    s.outbound.push(text('254711000001', 'Added 2 × Premium Coffee. Cart subtotal: KES 3,000.', 'dk1.e', 2_300));
    s.outbound.push(text('254711000001', 'Added 2 × Premium Coffee. Cart subtotal: KES 3,000.', 'dk1.f', 2_400));
    expect(nonZero(s)).toEqual({ duplicateMessages: 2 });
  });

  it('do not count a prompt repeated after the customer asked again ("Try again")', () => {
    const s = cleanRun();
    s.inbound.push({ from: '254711000001', at: 5_000 });
    s.outbound.push(text('254711000001', PROMPT, 'dk1.g', 5_100));
    expect(nonZero(s)).toEqual({});
  });

  it('do not count the same message to two customers', () => {
    const s = cleanRun();
    s.outbound.push(text('254711000002', 'Hi! 👋 Welcome to Nairobi.', 'dk1.h', 1_200));
    expect(nonZero(s)).toEqual({});
  });

  it('count a second receipt for one order, even when it is worded differently', () => {
    const s = cleanRun();
    s.outbound.push(text('254711000001', '🧾 *Receipt — order NBO-1001*\n2 × Premium Coffee — KES 3,000\nPaid late.', 'dk1.i', 9_500));
    expect(nonZero(s)).toEqual({ duplicateReceipts: 1 });
  });

  it('read the order number of a receipt sent as a template', () => {
    const body = { type: 'template', template: { name: 'paymentReceived', components: [{ type: 'body', parameters: [{ type: 'text', text: 'NBO-1001' }] }] } };
    expect(receiptOrder(body)).toBe('NBO-1001');
    expect(receiptOrder(text('1', 'Added 2 × Premium Coffee.', 'dk1.j', 0).body)).toBeNull();
  });

  it('count workflows that failed, were terminated or timed out', () => {
    const s = cleanRun();
    s.failedWorkflows = [{ workflowId: 'order:NBO-1001', status: 'FAILED' }, { workflowId: 'conversation:nairobi:ref-1', status: 'TERMINATED' }];
    expect(nonZero(s)).toEqual({ failedWorkflows: 2 });
  });

  it('count a journey that never got its receipt, unless the answer it gave up on came after all', () => {
    const s = cleanRun();
    s.journeys = [journey({ finished: false, stuckAt: 'receipt' })];
    expect(nonZero(s)).toEqual({ stuckJourneys: 1 });
    s.journeys = [journey({ finished: false, stuckAt: 'receipt', lateAnswerMs: 320_000 })];
    expect(nonZero(s)).toEqual({});
  });
});
