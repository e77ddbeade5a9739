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
