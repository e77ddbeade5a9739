import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { textMessage } from '../fakes/graph-api.ts';
import { startRedriver, type Redriver } from '../../api/redrive.ts';
import { ShopDirectory } from '../../api/shops.ts';
import { inboundSignal } from '../../workflows/definitions.ts';

const CUSTOMER = '254712000311';

/** A TCP proxy in front of Temporal that a test can cut (every connection dropped, new ones refused) and restore. */
async function cuttableProxy(target: string): Promise<{ address: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  let cut = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const interactiveTo = (duka: Duka, to: string) => duka.graph.sent.filter((s) => s.to === to && (s.body as { type?: string }).type === 'interactive');

describe('self-healing hand-off: a message that arrived while Temporal was away is re-driven by duka', () => {
  let duka: Duka;
  let proxy: Awaited<ReturnType<typeof cuttableProxy>>;
  let redriver: Redriver;
  beforeAll(async () => {
    proxy = await cuttableProxy(process.env.DUKA_TEST_TEMPORAL_ADDRESS!);
    duka = await startDuka({ label: 'redrive', clientTemporalAddress: proxy.address });
    redriver = startRedriver({ config: duka.config, orm: duka.orm, temporal: duka.client, shops: new ShopDirectory(duka.orm, { credentialsKey: duka.config.credentialsKey }), intervalMs: 250 });
  }, 60_000);
  afterAll(async () => {
    await redriver?.stop();
    proxy?.restore();
    await duka?.stop();
    await proxy?.close();
  });

  it('answers 503 while Temporal is unreachable, hands the message off once it is back, and a redelivery is a duplicate', async () => {
    proxy.cut();
    const down = await duka.deliver(NAIROBI, [textMessage(CUSTOMER, 'hi', 'wamid.redrive-1')], { name: 'Amina' });
    expect(down.status).toBe(503);
    const [row] = await duka.orm.em.getConnection().execute<{ handed_off_at: Date | null; status: string }[]>('select handed_off_at, status from message where wa_message_id = ?', ['wamid.redrive-1']);
    expect(row).toMatchObject({ handed_off_at: null, status: 'handoff_failed' });

    proxy.restore();
    // No redelivery from Meta: duka hands it off itself, and the conversation greets the customer.
    await duka.graph.waitForSent((s) => s.to === CUSTOMER && (s.body as { type?: string }).type === 'interactive', 60_000);
    const [done] = await duka.orm.em.getConnection().execute<{ handed_off_at: Date | null; payload: unknown }[]>('select handed_off_at, payload from message where wa_message_id = ?', ['wamid.redrive-1']);
    expect(done?.handed_off_at).not.toBeNull();
    expect(done?.payload).toBeNull();
    expect(redriver.stats.redriven).toBe(1);

    // Meta's redelivery of the same message finds it done: nothing is handed off again.
    const again = await duka.deliver(NAIROBI, [textMessage(CUSTOMER, 'hi', 'wamid.redrive-1')], { name: 'Amina' });
    expect(again.status).toBe(200);
    // A later message in the same conversation proves the earlier one was not replayed: exactly two greetings/replies.
    const handle = duka.client.workflow.getHandle(duka.conversationId('nairobi', CUSTOMER));
    const history = await handle.fetchHistory();
    const inbound = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === inboundSignal.name);
    expect(inbound).toHaveLength(1);
    expect(interactiveTo(duka, CUSTOMER)).toHaveLength(1);
    expect(await redriver.runOnce()).toBe(0);
  }, 120_000);
});
