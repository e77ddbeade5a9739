import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { addLineUpdate, placeOrderUpdate, setFulfilmentUpdate, type OrderInput } from '../../workflows/definitions.ts';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { CartLine, ShopView } from '../../domain/catalog.ts';
import type { SendInput } from '../../activities/messaging.ts';
import { testDataConverter } from './codec.ts';
import { recordHistory } from './histories.ts';
import { startTimeSkipping } from './time-skipping.ts';

/** A shop for stubbed order tests: pickup only, no tax, no bookings; the test names who it is and how it is paid. */
export function stubShop(shop: Pick<ShopView, 'id' | 'name' | 'currency' | 'country' | 'paymentMethods'>): ShopView {
  return { defaultLanguage: 'en', deliveryAvailable: false, pickupAvailable: true, deliveryFee: 0, taxRateBasisPoints: 0, taxInclusive: false, hasBookings: false, preparationMinutes: 10, ...shop };
}

export interface StubWorker {
  env: TestWorkflowEnvironment;
  /** Workflows whose histories are recorded (DUKA_RECORD_HISTORIES) at stop. */
  started: WorkflowHandle[];
  stop(): Promise<void>;
}

/** duka's workflows on the time-skipping server with the activities `activities(env)` gives. */
export async function startStubWorker(label: string, taskQueue: string, activities: (env: TestWorkflowEnvironment) => object): Promise<StubWorker> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const env = await startTimeSkipping();
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: process.env.DUKA_TEST_WORKFLOW_BUNDLE! }, activities: activities(env), dataConverter: testDataConverter() });
  const running = worker.run();
  const started: WorkflowHandle[] = [];
  return {
    env,
    started,
    async stop() {
      for (const handle of started) await recordHistory(handle, label);
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}

/**
 * Starts an order on the stub worker and takes it, as a customer would, to its payment: one `productId` for pickup,
 * paid by `method` (M-Pesa from a fixed phone). Its history is recorded at `stop()`.
 */
export async function placeStubOrder(
  stub: StubWorker,
  taskQueue: string,
  order: { orderNumber: string; customerRef: string; shop: ShopView; productId: string; method: 'mpesa' | 'razorpay_link'; timing: OrderInput['timing'] },
): Promise<WorkflowHandle> {
  const input: OrderInput = { orderNumber: order.orderNumber, shop: order.shop, customerRef: order.customerRef, language: 'en', source: 'whatsapp', timing: order.timing };
  const handle = await stub.env.client.workflow.start('orderWorkflow', { taskQueue, workflowId: `order:${input.orderNumber}`, args: [input] });
  stub.started.push(handle);
  const added = await handle.executeUpdate(addLineUpdate, { args: [{ productId: order.productId, optionIds: [], quantity: 1 }] });
  if (!added.ok) throw new Error(`${order.orderNumber}: the line was refused`);
  await handle.executeUpdate(setFulfilmentUpdate, { args: [{ fulfilment: 'pickup' }] });
  await handle.executeUpdate(placeOrderUpdate, { args: [{ method: order.method, ...(order.method === 'mpesa' ? { phone: '254712345678' } : {}) }] });
  return handle;
}

/**
 * The activities an order workflow calls that a test of its payment step is not about, stubbed: the read model,
 * promotions, stock and Shopify agree and do nothing, each line is `line` at the quantity asked, and every message's
 * text goes to `sent()`. A test adds the payment activities it is about.
 */
export function quietOrderActivities(line: CartLine, sent: () => string[]) {
  return {
    async saveOrder(): Promise<void> {},
    async activePromotions(): Promise<never[]> {
      return [];
    },
    async reserveStock(): Promise<{ ok: true }> {
      return { ok: true };
    },
    async commitStock(): Promise<{ taken: number }> {
      return { taken: 0 };
    },
    async releaseStock(): Promise<{ released: number }> {
      return { released: 0 };
    },
    async priceLines(input: { lines: { lineId: string; choice: { quantity: number } }[] }): Promise<CartLine[]> {
      return input.lines.map((l) => ({ ...line, lineId: l.lineId, quantity: l.choice.quantity, lineTotal: line.unitPrice * l.choice.quantity }));
    },
    async sendMessage(input: SendInput): Promise<{ messageId: string; via: 'message' }> {
      sent().push('body' in input.message ? String(input.message.body) : input.message.kind);
      return { messageId: `wamid.${sent().length}`, via: 'message' };
    },
    async recordPaymentResult(): Promise<{ booking: null }> {
      return { booking: null };
    },
    async cancelPayment(): Promise<void> {},
    async pushOrderToShopify(): Promise<{ status: 'not_configured' }> {
      return { status: 'not_configured' };
    },
  };
}
