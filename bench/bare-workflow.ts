import { condition, defineSignal, setHandler } from '@temporalio/workflow';

/**
 * Scenario B's workflow, bundled on its own: nothing but a signal counter. It stands where duka's conversation
 * workflow stands (started by `signalWithStart`, then signalled once per message) and completes after the expected
 * number of signals, returning when (workflow time) it saw the last one.
 */
export interface BareMessage {
  id: string;
  text: string;
}

export const pingSignal = defineSignal<[BareMessage]>('ping');

export async function benchBareWorkflow(expected: number): Promise<{ received: number; lastAt: number }> {
  let received = 0;
  setHandler(pingSignal, () => {
    received += 1;
  });
  await condition(() => received >= expected);
  return { received, lastAt: Date.now() };
}

export const paidSignal = defineSignal('paid');

/**
 * The bare equivalent of a whole purchase (scenario "purchases"): the customer's messages as signals, then the
 * payment callback as one "paid" signal; it completes when it has seen all of them, returning when (workflow time).
 */
export async function benchBarePurchaseWorkflow(messages: number): Promise<{ received: number; lastAt: number }> {
  let received = 0;
  let paid = false;
  setHandler(pingSignal, () => {
    received += 1;
  });
  setHandler(paidSignal, () => {
    paid = true;
  });
  await condition(() => received >= messages && paid);
  return { received, lastAt: Date.now() };
}
