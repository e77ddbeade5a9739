import { Router, type Response } from 'express';
import { z } from 'zod';
import { LockMode, type MikroORM } from '@mikro-orm/postgresql';
import { Booking, type IBooking, type IShop } from '../../db/entities.ts';
import { HttpError, parseInput } from '../errors.ts';
import { requestLog } from '../context.ts';
import { pathShop, ShopIdParam } from '../shop-scope.ts';
import { describeRoute } from '../openapi.ts';
import { PageQuery, shopPage } from '../paging.ts';
import { audit, changes } from '../audit.ts';

/** Minor units. */
const Amount = z.number().int().min(0).max(1_000_000_000_000);
/** What a customer types in the chat ("pay" → reference): letters, digits and dashes, matched ignoring case. */
const Reference = z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/, 'letters, digits and dashes, at most 64');
const Name = z.string().trim().min(1).max(200);

const CreateBooking = z
  .strictObject({ reference: Reference, customerName: Name.optional(), description: Name.optional(), total: Amount.min(1), paid: Amount.optional() })
  .refine((b) => (b.paid ?? 0) <= b.total, { message: 'paid cannot be more than total', path: ['paid'] });
const PatchBooking = z
  .strictObject({ customerName: Name.nullable().optional(), description: Name.optional(), total: Amount.min(1).optional(), paid: Amount.optional() })
  .refine((b) => Object.keys(b).length > 0, 'nothing to change');

export type BookingPaymentStatus = 'unpaid' | 'partly_paid' | 'paid';

export function bookingPaymentStatus(total: number, paid: number): BookingPaymentStatus {
  if (paid >= total) return 'paid';
  return paid > 0 ? 'partly_paid' : 'unpaid';
}

/** What the audit log keeps of a booking: amounts and text, and only whether a customer name is set (personal data). */
const audited = (b: Pick<IBooking, 'reference' | 'description' | 'total' | 'paid'> & { customerName?: string | null }) => ({
  reference: b.reference,
  description: b.description,
  total: b.total,
  paid: b.paid,
  customerName: b.customerName ? '[set]' : null,
});

function bookingJson(b: IBooking) {
  return {
    reference: b.reference,
    customerName: b.customerName ?? null,
    description: b.description,
    total: b.total,
    paid: b.paid,
    balance: Math.max(0, b.total - b.paid),
    paymentStatus: bookingPaymentStatus(b.total, b.paid),
    currency: b.currency,
    createdAt: b.createdAt.toISOString(),
    updatedAt: b.updatedAt.toISOString(),
  };
}

/**
 * Bookings (seed 003) entered and corrected by operators; customers pay them over WhatsApp ("Pay a booking"), and each
 * confirmed payment credits `paid` (activities/payments.ts `recordPaymentResult`), so balance and payment status
 * follow. A reference is unique per shop ignoring case, as the chat matches it.
 */
export function bookingsRouter(deps: { orm: MikroORM }): Router {
  const { orm } = deps;
  const router = Router();

  async function findBooking(shop: IShop, reference: string): Promise<IBooking | null> {
    const em = orm.em.fork();
    const rows = await em.getConnection().execute<{ id: string }[]>('select id from booking where shop_id = ? and upper(reference) = upper(?) limit 1', [shop.id, reference]);
    return rows[0] ? em.findOne(Booking, { id: rows[0].id }) : null;
  }

  async function visibleBooking(res: Response, shopId: string, reference: string) {
    const shop = await pathShop(res, orm, shopId);
    const ref = parseInput(Reference, reference, 'booking reference');
    const booking = await findBooking(shop, ref);
    if (!booking) throw new HttpError(404, 'not_found', `no booking ${ref} in shop ${shop.id}`);
    return { shop, booking };
  }

  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId/bookings', summary: 'Bookings, newest first, with balance and payment status, paged by cursor like the orders', params: { shopId: ShopIdParam }, query: PageQuery, responses: { 200: 'a page of bookings and the next cursor', 404: 'no such shop', 403: 'another shop\'s token' } });
  router.get('/shops/:shopId/bookings', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const query = parseInput(PageQuery, req.query, 'query');
    const em = orm.em.fork();
    const { rows, nextCursor } = await shopPage(em, 'booking', shop.id, query, (ids) => em.find(Booking, { id: { $in: ids } }));
    res.json({ bookings: rows.map(bookingJson), nextCursor });
  });

  describeRoute({ method: 'post', path: '/api/admin/shops/:shopId/bookings', summary: 'Enter a booking (amounts in minor units)', params: { shopId: ShopIdParam }, body: CreateBooking, responses: { 201: 'the booking', 404: 'no such shop', 403: 'another shop\'s token', 409: 'the reference exists (ignoring case)' } });
  router.post('/shops/:shopId/bookings', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const body = parseInput(CreateBooking, req.body, 'body');
    if (await findBooking(shop, body.reference)) throw new HttpError(409, 'conflict', `booking ${body.reference} already exists in shop ${shop.id}`);
    const em = orm.em.fork();
    const booking = em.create(Booking, {
      shop: shop.id,
      reference: body.reference,
      description: body.description ?? body.reference,
      customerName: body.customerName ?? null,
      total: body.total,
      paid: body.paid ?? 0,
      currency: shop.currency,
    });
    audit(res, em, { shopId: shop.id, entity: 'booking', entityId: booking.id, action: 'create', diff: changes({}, audited(booking)) });
    try {
      await em.flush();
    } catch (err) {
      if (err instanceof Error && err.name === 'UniqueConstraintViolationException') throw new HttpError(409, 'conflict', `booking ${body.reference} already exists in shop ${shop.id}`);
      throw err;
    }
    requestLog(res).info({ shopId: shop.id, booking: booking.reference }, 'booking created');
    res.status(201).json(bookingJson(booking));
  });

  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId/bookings/:reference', summary: 'One booking with its payments', params: { shopId: ShopIdParam, reference: Reference }, responses: { 200: 'the booking', 404: 'no such shop or booking', 403: 'another shop\'s token' } });
  router.get('/shops/:shopId/bookings/:reference', async (req, res) => {
    const { booking } = await visibleBooking(res, req.params.shopId, req.params.reference);
    const payments = await orm.em
      .fork()
      .getConnection()
      .execute<Record<string, unknown>[]>('select reference, method, status, amount, currency, created_at from payment where booking_id = ? order by created_at', [booking.id]);
    res.json({
      ...bookingJson(booking),
      payments: payments.map((p) => ({ reference: p.reference, method: p.method, status: p.status, amount: Number(p.amount), currency: p.currency, createdAt: new Date(p.created_at as string).toISOString() })),
    });
  });

  /** `paid` here is a correction by an operator (money taken outside duka); payments over WhatsApp add to it themselves. */
  describeRoute({ method: 'patch', path: '/api/admin/shops/:shopId/bookings/:reference', summary: 'Correct a booking (paid: money taken outside duka)', params: { shopId: ShopIdParam, reference: Reference }, body: PatchBooking, responses: { 200: 'the booking', 404: 'no such shop or booking', 403: 'another shop\'s token' } });
  router.patch('/shops/:shopId/bookings/:reference', async (req, res) => {
    const { shop, booking } = await visibleBooking(res, req.params.shopId, req.params.reference);
    const body = parseInput(PatchBooking, req.body, 'body');
    // Locked: a payment crediting this booking meanwhile is counted before the check, never overwritten.
    const row = await orm.em.fork().transactional(async (em) => {
      const locked = await em.findOneOrFail(Booking, { id: booking.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const total = body.total ?? locked.total;
      const paid = body.paid ?? locked.paid;
      if (paid > total) throw new HttpError(400, 'invalid_request', `invalid body: paid (${paid}) cannot be more than total (${total})`);
      const before = audited(locked);
      em.assign(locked, {
        ...(body.total !== undefined && { total: body.total }),
        ...(body.paid !== undefined && { paid: body.paid }),
        ...(body.description !== undefined && { description: body.description }),
        ...(body.customerName !== undefined && { customerName: body.customerName }),
      });
      audit(res, em, { shopId: shop.id, entity: 'booking', entityId: locked.id, action: 'update', diff: changes(before, audited(locked)) });
      return locked;
    });
    requestLog(res).info({ shopId: shop.id, booking: row.reference, fields: Object.keys(body) }, 'booking changed');
    res.json(bookingJson(row));
  });

  return router;
}
