/**
 * The verdict of `npm run chaos`, as pure functions over what the run saw: the journeys (what each customer asked
 * for and was told), the charges the payment simulators took, the orders as PostgreSQL and Temporal hold them, and
 * every message the Graph API stand-in received. No I/O here, so test/chaos/ can feed each check the fault it must
 * catch.
 */

export type JourneyMethod = 'mpesa' | 'ecocash' | 'omari' | 'razorpay_link';

/** One customer's purchase, as the driver lived it. */
export interface JourneyRecord {
  id: number;
  /** WhatsApp id (digits with country code). */
  phone: string;
  shopId: string;
  customerRef: string;
  method: JourneyMethod;
  /** productId → quantity of every add the bot acknowledged ("Added n × …"). */
  lines: Record<string, number>;
  /** An add that was sent but never acknowledged (the journey got stuck on it): it may or may not be in the order. */
  unconfirmed: Record<string, number>;
  /** The order number the customer was shown in the order summary. */
  orderNumber: string | null;
  /** Got the receipt. */
  finished: boolean;
  /** The step the journey waited for when it gave up. */
  stuckAt: string | null;
  /** Times the customer tapped "Try again" after a payment attempt failed. */
  paymentRetries: number;
  /** The last thing duka said to this customer (for the report of a stuck journey). */
  lastMessage: string | null;
  /** The longest the customer waited for an answer (ms) and for which step. */
  slowest: { step: string; ms: number } | null;
  /** A journey that gave up: the answer it waited for came after all, this long after it began waiting (ms). */
  lateAnswerMs: number | null;
}

/** Money a simulator took from a customer (an approved STK push, a paid EcoCash prompt, an O'mari debit, a paid link). */
export interface Charge {
  provider: 'mpesa' | 'paynow' | 'omari' | 'razorpay';
  /** The provider's id of the charge. */
  id: string;
  /** The payer's WhatsApp id (digits with country code). */
  phone: string;
}

export interface ItemFact {
  productId: string | null;
  quantity: number;
}

/** What Temporal says of an order (the `order` query). */
export interface WorkflowOrderFact {
  status: string;
  paymentStatus: string;
  attention: string | null;
  items: ItemFact[];
  /** Payment attempts the workflow recorded as succeeded (refunded and flagged count as money taken too). */
  successfulPayments: number;
}

/** One order row and its workflow. */
export interface OrderFact {
  number: string;
  customerRef: string | null;
  status: string;
  paymentStatus: string;
  items: ItemFact[];
  /** `payment` rows of this order with money taken (succeeded, refunded, flagged). */
  successfulPayments: number;
  /** null: no workflow `order:<number>` (or it did not answer the query). */
  workflow: WorkflowOrderFact | null;
}

/** A message duka sent, as the Graph API stand-in received it. */
export interface OutboundFact {
  to: string;
  /** The Graph API request body (its `biz_opaque_callback_data` names the send intent). */
  body: Record<string, unknown>;
  /** Unix ms. */
  at: number;
}

/** A customer's message (each wamid once, however often Meta delivered it): when the customer sent it. */
export interface InboundFact {
  from: string;
  /** Unix ms. */
  at: number;
}

export interface ClosedWorkflowFact {
  workflowId: string;
  status: string;
}

export interface ChaosSnapshot {
  journeys: JourneyRecord[];
  charges: Charge[];
  /** Orders known to PostgreSQL, plus orders the journeys were told that PostgreSQL lacks (workflow facts only). */
  orders: OrderFact[];
  /** Orders the journeys were told of that have no row, with what Temporal says of them (null: no workflow). */
  missingRows: { number: string; workflow: WorkflowOrderFact | null }[];
  outbound: OutboundFact[];
  inbound: InboundFact[];
  /** Workflows that ended Failed, Terminated or TimedOut. */
  failedWorkflows: ClosedWorkflowFact[];
}

export interface Finding {
  /** The journey, order or customer it is about. */
  subject: string;
  detail: string;
  /** How much it adds to its figure (extra copies of a message, for example); 1 unless said. */
  count: number;
}

export interface ChaosFindings {
  lostOrders: Finding[];
  doubledLines: Finding[];
  unflaggedDoubleCharges: Finding[];
  chargedNotPaid: Finding[];
  duplicateMessages: Finding[];
  duplicateReceipts: Finding[];
  failedWorkflows: Finding[];
  stuckJourneys: Finding[];
}

/** Each figure with the line the report prints for it; every one must be 0. */
export const FIGURES: { key: keyof ChaosFindings; label: string }[] = [
  { key: 'lostOrders', label: 'lost orders' },
  { key: 'doubledLines', label: 'doubled lines' },
  { key: 'unflaggedDoubleCharges', label: 'double charges not flagged' },
  { key: 'chargedNotPaid', label: 'charged but not paid' },
  { key: 'duplicateMessages', label: 'duplicate messages' },
  { key: 'duplicateReceipts', label: 'duplicate receipts' },
  { key: 'failedWorkflows', label: 'failed workflows' },
  { key: 'stuckJourneys', label: 'stuck journeys' },
];

export const figure = (findings: Finding[]): number => findings.reduce((n, f) => n + f.count, 0);

/** Statuses in which an order has been paid (or has moved on after being paid). */
const PAID_STATUSES = new Set(['PAID', 'PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED']);
const RECEIPT = /Receipt — order ([A-Z]+-\d+)/;

const label = (j: JourneyRecord) => `journey ${j.id} (${j.shopId}, ${j.method})`;
/** The workflow an operator opens: the order's when there is one, else the customer's conversation. */
const workflowOf = (j: JourneyRecord) => (j.orderNumber ? `order:${j.orderNumber}` : `conversation:${j.shopId}:${j.customerRef}`);

/** quantity per product, and the products that appear on more than one line. */
function tally(items: ItemFact[]): { quantities: Map<string, number>; repeated: string[] } {
  const quantities = new Map<string, number>();
  const repeated: string[] = [];
  for (const item of items) {
    const key = item.productId ?? '(no product)';
    if (quantities.has(key)) repeated.push(key);
    quantities.set(key, (quantities.get(key) ?? 0) + item.quantity);
  }
  return { quantities, repeated };
}

/** What differs between the lines a journey asked for and the lines an order holds; empty when they agree. */
export function lineDifferences(journey: Pick<JourneyRecord, 'lines' | 'unconfirmed'>, items: ItemFact[]): string[] {
  const { quantities, repeated } = tally(items);
  const problems = repeated.map((p) => `${p} on more than one line`);
  const products = new Set([...Object.keys(journey.lines), ...Object.keys(journey.unconfirmed), ...quantities.keys()]);
  for (const product of products) {
    const asked = journey.lines[product] ?? 0;
    const maybe = journey.unconfirmed[product] ?? 0;
    const held = quantities.get(product) ?? 0;
    if (held !== asked && held !== asked + maybe) problems.push(`${product}: asked ${asked}${maybe ? ` (+${maybe} unconfirmed)` : ''}, order has ${held}`);
  }
  return problems;
}

/** The text a customer reads in a message (text body, interactive body, or the template's parameters). */
export function messageText(body: Record<string, unknown>): string {
  const b = body as { text?: { body?: string }; interactive?: { body?: { text?: string } }; template?: { name?: string; components?: unknown } };
  return b.text?.body ?? b.interactive?.body?.text ?? (b.template ? `[template ${b.template.name ?? ''}] ${JSON.stringify(b.template.components ?? [])}` : '');
}

/** A message as the customer sees it, without what only Meta reads (the intent key echoed in statuses). */
export function canonicalMessage(body: Record<string, unknown>): string {
  const { biz_opaque_callback_data: _intent, ...rest } = body;
  return JSON.stringify(rest);
}

/** The order number of a receipt (a text receipt, or the paymentReceived template), or null. */
export function receiptOrder(body: Record<string, unknown>): string | null {
  const text = RECEIPT.exec(messageText(body));
  if (text) return text[1]!;
  const template = body.template as { name?: string; components?: { parameters?: { text?: string }[] }[] } | undefined;
  if (template?.name === 'paymentReceived' || template?.name === 'payment_received') {
    return template.components?.[0]?.parameters?.[0]?.text ?? 'unknown order';
  }
  return null;
}

export function lostOrders(s: ChaosSnapshot): Finding[] {
  const findings: Finding[] = [];
  const rows = new Map(s.orders.map((o) => [o.number, o]));
  const missing = new Map(s.missingRows.map((m) => [m.number, m]));
  const charged = new Set(s.charges.map((c) => c.phone));
  for (const j of s.journeys) {
    const paid = charged.has(j.phone);
    if (!j.orderNumber) {
      // Money taken from a customer who was never shown an order: it must at least have made one.
      if (paid && !s.orders.some((o) => o.customerRef === j.customerRef)) findings.push({ subject: label(j), detail: 'charged, but no order of this customer exists', count: 1 });
      continue;
    }
    const row = rows.get(j.orderNumber);
    if (!row) {
      const wf = missing.get(j.orderNumber)?.workflow ?? null;
      findings.push({ subject: label(j), detail: `told order ${j.orderNumber}, which has no row in PostgreSQL${wf ? ` (workflow order:${j.orderNumber} is ${wf.status})` : ' nor a workflow'}`, count: 1 });
    } else if (!row.workflow) {
      findings.push({ subject: label(j), detail: `order ${j.orderNumber} has a row (${row.status}) but no workflow answers for it`, count: 1 });
    } else if (row.customerRef !== null && row.customerRef !== j.customerRef) {
      findings.push({ subject: label(j), detail: `order ${j.orderNumber} belongs to another customer`, count: 1 });
    }
  }
  return findings;
}

export function doubledLines(s: ChaosSnapshot): Finding[] {
  const findings: Finding[] = [];
  const rows = new Map(s.orders.map((o) => [o.number, o]));
  for (const j of s.journeys) {
    const order = j.orderNumber ? rows.get(j.orderNumber) : undefined;
    if (!order) continue;
    const problems = [
      ...(order.workflow ? lineDifferences(j, order.workflow.items).map((p) => `workflow: ${p}`) : []),
      ...lineDifferences(j, order.items).map((p) => `order_item rows: ${p}`),
    ];
    if (problems.length) findings.push({ subject: `${label(j)} order:${order.number}`, detail: problems.join('; '), count: 1 });
  }
  return findings;
}

/** Each journey that was charged, with its charges and its order (undefined: no order row under the number it was told). */
function chargedJourneys(s: ChaosSnapshot): { j: JourneyRecord; charges: Charge[]; order: OrderFact | undefined }[] {
  const rows = new Map(s.orders.map((o) => [o.number, o]));
  return s.journeys
    .map((j) => ({ j, charges: s.charges.filter((c) => c.phone === j.phone), order: j.orderNumber ? rows.get(j.orderNumber) : undefined }))
    .filter(({ charges }) => charges.length > 0);
}

/** More than one charge for one order, and nobody told: the order does not carry Attention=DOUBLE_PAYMENT. */
export function unflaggedDoubleCharges(s: ChaosSnapshot): Finding[] {
  return chargedJourneys(s)
    .filter(({ charges, order }) => charges.length > 1 && order?.workflow?.attention !== 'DOUBLE_PAYMENT')
    .map(({ j, charges, order }) => ({
      subject: `${label(j)} ${workflowOf(j)}`,
      detail: `${charges.length} charges at ${charges[0]!.provider} (${charges.map((c) => c.id).join(', ')}), ${order?.workflow?.successfulPayments ?? 0} known to the workflow, attention ${order?.workflow?.attention ?? 'none'}`,
      count: 1,
    }));
}

/** A customer who paid, whose order is not paid (or whose payment is in neither the workflow nor the rows). */
export function chargedNotPaid(s: ChaosSnapshot): Finding[] {
  const findings: Finding[] = [];
  for (const { j, charges, order } of chargedJourneys(s)) {
    if (!order) continue; // a lost order, counted there
    const wf = order.workflow;
    const problems: string[] = [];
    if (!wf || !PAID_STATUSES.has(wf.status) || wf.paymentStatus !== 'SUCCEEDED') problems.push(`workflow ${wf ? `${wf.status}/${wf.paymentStatus}` : 'missing'}`);
    if (!PAID_STATUSES.has(order.status) || order.paymentStatus !== 'SUCCEEDED') problems.push(`row ${order.status}/${order.paymentStatus}`);
    if (order.successfulPayments === 0) problems.push('no successful payment row');
    if (problems.length) findings.push({ subject: `${label(j)} order:${order.number}`, detail: `${charges.length} charge(s) taken, but ${problems.join(', ')}`, count: 1 });
  }
  return findings;
}

/**
 * Messages a customer got twice. A copy counts when it carries the send intent of an earlier message (a retried send
 * that went out again), or when it repeats an earlier message word for word while the customer said nothing new in
 * between (the same event handled twice). The same prompt after the customer tapped "Try again" is not a copy.
 */
export function duplicateMessages(s: ChaosSnapshot): Finding[] {
  const spoke = new Map<string, number[]>();
  for (const m of s.inbound) spoke.set(m.from, [...(spoke.get(m.from) ?? []), m.at]);
  const saidBetween = (who: string, from: number, to: number) => (spoke.get(who) ?? []).some((at) => at > from && at <= to);
  const findings = new Map<string, Finding>();
  const intents = new Set<string>();
  const lastSeen = new Map<string, number>();
  for (const m of [...s.outbound].sort((a, b) => a.at - b.at)) {
    const intent = typeof m.body.biz_opaque_callback_data === 'string' ? `${m.to}\n${m.body.biz_opaque_callback_data}` : null;
    const key = `${m.to}\n${canonicalMessage(m.body)}`;
    const earlier = lastSeen.get(key);
    const sameIntent = intent !== null && intents.has(intent);
    if (sameIntent || (earlier !== undefined && !saidBetween(m.to, earlier, m.at))) {
      const f = findings.get(key) ?? { subject: `customer …${m.to.slice(-4)}`, detail: '', count: 0 };
      f.count += 1;
      f.detail = `${f.count + 1} × ${JSON.stringify(messageText(m.body).slice(0, 80))}${sameIntent ? ' (one send intent)' : ''}`;
      findings.set(key, f);
    }
    if (intent) intents.add(intent);
    lastSeen.set(key, m.at);
  }
  return [...findings.values()];
}

/** More than one receipt for one order. */
export function duplicateReceipts(s: ChaosSnapshot): Finding[] {
  const counts = new Map<string, number>();
  for (const m of s.outbound) {
    const order = receiptOrder(m.body);
    if (order) counts.set(`${m.to} ${order}`, (counts.get(`${m.to} ${order}`) ?? 0) + 1);
  }
  return [...counts.entries()].filter(([, n]) => n > 1).map(([key, n]) => ({ subject: `order ${key.split(' ')[1]}`, detail: `${n} receipts`, count: n - 1 }));
}

export function failedWorkflows(s: ChaosSnapshot): Finding[] {
  return s.failedWorkflows.map((w) => ({ subject: w.workflowId, detail: w.status, count: 1 }));
}

/** Journeys that never got their receipt because an answer never came (a slow answer that came after all is not counted). */
export function stuckJourneys(s: ChaosSnapshot): Finding[] {
  return s.journeys
    .filter((j) => !j.finished && j.lateAnswerMs === null)
    .map((j) => ({
      subject: label(j),
      detail:
        `waiting for ${j.stuckAt ?? 'its receipt'} (conversation:${j.shopId}:${j.customerRef}${j.orderNumber ? `, order:${j.orderNumber}` : ''})` +
        `${j.paymentRetries ? `, after ${j.paymentRetries} payment retries` : ''}; last message: ${JSON.stringify((j.lastMessage ?? 'none').slice(0, 100))}`,
      count: 1,
    }));
}

export function checkAll(s: ChaosSnapshot): ChaosFindings {
  return {
    lostOrders: lostOrders(s),
    doubledLines: doubledLines(s),
    unflaggedDoubleCharges: unflaggedDoubleCharges(s),
    chargedNotPaid: chargedNotPaid(s),
    duplicateMessages: duplicateMessages(s),
    duplicateReceipts: duplicateReceipts(s),
    failedWorkflows: failedWorkflows(s),
    stuckJourneys: stuckJourneys(s),
  };
}
