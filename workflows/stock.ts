import { patched } from '@temporalio/workflow';
import type { ActivityInterfaceFor } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { isRefusal, type CartLine, type LineChoice, type LineRefusal } from '../domain/catalog.ts';
import type { Texts } from '../domain/i18n.ts';
import type { OrderStatus } from '../domain/status.ts';
import type { OrderView } from './definitions.ts';

/** Where the order's units stand in the database (`held`) and where its status says they should (`want`). */
export interface StockState {
  held: 'reserved' | 'committed' | 'released';
  want: 'reserved' | 'committed' | 'released';
}

/** Paid or accepted: the units are taken. Back at the cart or checkout, cancelled or expired: they are given back. */
const TAKEN: readonly OrderStatus[] = ['PAID', 'CONFIRMED'];
const GIVEN_BACK: readonly OrderStatus[] = ['CART', 'CHECKOUT', 'CANCELLED', 'EXPIRED'];

/**
 * An order's stock (patch `stock-reserve`): reserved when it is placed, taken when it is paid or confirmed, given back
 * on cancel, expiry or a payment that did not go through. Every status change says what it wants (synchronously, from
 * `setStatus`); `sync`, called where the order is persisted, makes the database follow, one call at a time. Orders
 * from before the patch have no state and never call anything.
 */
export class OrderStock {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly db: ActivityInterfaceFor<Activities>;
  private readonly order: OrderView;
  private readonly holder: { stock?: StockState };

  constructor(db: ActivityInterfaceFor<Activities>, order: OrderView, holder: { stock?: StockState }) {
    this.db = db;
    this.order = order;
    this.holder = holder;
  }

  private serial<T>(body: () => Promise<T>): Promise<T> {
    const run = this.chain.then(body, body);
    this.chain = run.catch(() => undefined);
    return run;
  }

  onStatus(to: OrderStatus): void {
    const s = this.holder.stock;
    if (!s) return;
    if (TAKEN.includes(to)) s.want = 'committed';
    else if (GIVEN_BACK.includes(to)) s.want = 'released';
  }

  /** Whether the database is behind the order's status (checked synchronously, so runs without stock await nothing). */
  behind(): boolean {
    const s = this.holder.stock;
    return s !== undefined && s.held !== s.want;
  }

  sync(): Promise<void> {
    return this.serial(async () => {
      const s = this.holder.stock;
      if (!s || s.held === s.want) return;
      const to = s.want;
      if (to === 'committed' && patched('stock-commit')) await this.db.commitStock({ orderNumber: this.order.orderNumber });
      else if (to === 'released' && patched('stock-release')) await this.db.releaseStock({ orderNumber: this.order.orderNumber });
      s.held = to;
    });
  }

  /** Holds every line's units, all or none; the refusal names what cannot be had. */
  reserve(): Promise<LineRefusal | null> {
    return this.serial(async () => {
      const lines = this.order.items.filter((l) => !l.productId.startsWith('booking:')).map((l) => ({ lineId: l.lineId, productId: l.productId, name: l.name, quantity: l.quantity }));
      const r = await this.db.reserveStock({ shopId: this.order.shopId, orderNumber: this.order.orderNumber, lines });
      if (!r.ok) return { reason: 'out_of_stock', name: r.name, stock: r.available };
      this.holder.stock = { held: 'reserved', want: this.holder.stock?.want === 'committed' ? 'committed' : 'reserved' };
      return null;
    });
  }
}

/**
 * The cart against the catalog as it is now, when the order is placed: a refusal (unavailable, sold out, a size that
 * is gone) or the lines whose price changed, already updated. Lines added before choices were kept stay as they are.
 */
export async function repriceCart(
  db: ActivityInterfaceFor<Activities>,
  order: OrderView,
  choices: Record<string, LineChoice>,
): Promise<{ refusal: { refusal: LineRefusal; line: CartLine } | null; changed: boolean }> {
  const known = order.items.filter((l) => choices[l.lineId]);
  if (known.length === 0) return { refusal: null, changed: false };
  const priced = await db.priceLines({ shopId: order.shopId, lines: known.map((l) => ({ lineId: l.lineId, choice: { ...choices[l.lineId]!, quantity: l.quantity } })) });
  for (const [i, p] of priced.entries()) if (isRefusal(p)) return { refusal: { refusal: p, line: known[i]! }, changed: false };
  let changed = false;
  for (const [i, p] of priced.entries()) {
    const line = known[i]!;
    if (isRefusal(p) || (p.unitPrice === line.unitPrice && p.name === line.name)) continue;
    Object.assign(line, { name: p.name, unitPrice: p.unitPrice, options: p.options, lineTotal: p.lineTotal });
    changed = true;
  }
  return { refusal: null, changed };
}

/** What the customer is told when their order cannot be placed as it is. */
export function refusalText(t: Texts, refusal: LineRefusal, line: CartLine): string {
  if (refusal.reason === 'out_of_stock') return t.placeRefused(t.outOfStock(refusal.name, refusal.stock));
  return t.placeRefused(t.unavailable('name' in refusal ? refusal.name : line.name));
}
