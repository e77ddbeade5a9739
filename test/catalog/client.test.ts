import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CatalogClient, toCatalogItem, type CatalogApiError, type CatalogProductInput } from '../../providers/whatsapp/catalog.ts';

const base: CatalogProductInput = { retailerId: 'SKU-1', name: 'Maize Meal 10kg', description: 'Roller meal', price: 799, currency: 'USD', imageUrl: '/sandbox/images/maize.svg', inStock: true, brand: 'Harare', link: 'https://wa.me/263771000002' };

describe('the catalog item built from a product', () => {
  it('prices in major units with the currency, makes a path absolute, and says out of stock', () => {
    expect(toCatalogItem(base, 'https://duka.example')).toEqual({
      item: { id: 'SKU-1', title: 'Maize Meal 10kg', description: 'Roller meal', availability: 'in stock', condition: 'new', price: '7.99 USD', link: 'https://wa.me/263771000002', image_link: 'https://duka.example/sandbox/images/maize.svg', brand: 'Harare' },
    });
    expect(toCatalogItem({ ...base, currency: 'KES', price: 150_000, inStock: false }, 'x')).toMatchObject({ item: { price: '1500.00 KES', availability: 'out of stock' } });
    expect(toCatalogItem({ ...base, currency: 'INR', price: 4_000, imageUrl: 'https://cdn.example/chai.jpg' }, 'x')).toMatchObject({ item: { price: '40.00 INR', image_link: 'https://cdn.example/chai.jpg' } });
  });

  it('refuses a product Meta would refuse, naming every missing field', () => {
    expect(toCatalogItem({ ...base, description: ' ', imageUrl: null, price: 0 }, 'x')).toEqual({
      problems: ['a description is required by Meta', 'an image (imageUrl) is required by Meta', 'a price above zero is required'],
    });
    expect(toCatalogItem({ ...base, name: 'x'.repeat(151) }, 'x')).toEqual({ problems: ["the name is longer than Meta's 150 characters"] });
    expect(toCatalogItem({ ...base, currency: 'EUR' }, 'x')).toEqual({ problems: ['currency EUR is not one duka prices in'] });
  });
});

describe('Meta catalog errors', () => {
  let server: Server;
  let url: string;
  let answer: { status: number; body: unknown; headers?: Record<string, string>; raw?: string } = { status: 200, body: {} };
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.raw ?? JSON.stringify(answer.body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const client = () => new CatalogClient({ graphUrl: url, apiVersion: 'v21.0' });
  const rejection = (call: Promise<unknown>) =>
    call.then(
      () => {
        throw new Error('expected a failure');
      },
      (err: unknown) => err as CatalogApiError,
    );
  const failure = async (status: number, code: number, message: string, headers?: Record<string, string>) => {
    answer = { status, body: { error: { message, type: 'OAuthException', code } }, ...(headers && { headers }) };
    return rejection(client().itemsBatch('1', [{ method: 'DELETE', data: { id: 'SKU-1' } }], 'token'));
  };

  it('retries throttling after the wait Meta names, never a refusal or a batch too large', async () => {
    const throttled = await failure(400, 80014, '(#80014) There have been too many calls for this catalog', { 'x-business-use-case-usage': JSON.stringify({ 123: [{ type: 'catalog_batch', call_count: 100, estimated_time_to_regain_access: 2 }] }) });
    expect(throttled).toMatchObject({ name: 'CatalogApiError', code: 80014, retryable: true, retryAfterMs: 120_000 });
    expect(await failure(429, 4, 'Application request limit reached')).toMatchObject({ retryable: true, retryAfterMs: undefined });
    expect(await failure(500, 2, 'Service temporarily unavailable')).toMatchObject({ retryable: true });
    expect(await failure(400, 100, 'Invalid parameter')).toMatchObject({ retryable: false, httpStatus: 400 });
    expect(await failure(400, 1, "Please reduce the amount of data you're asking for, then retry your request")).toMatchObject({ retryable: false });
    expect(await failure(401, 190, 'Invalid OAuth access token')).toMatchObject({ retryable: false, message: expect.stringContaining('(#190)') });
  });

  it('reads every shape of Meta\'s error answer (providers/whatsapp/graph-answer.ts), and answers that are not Meta\'s', async () => {
    const refusal = async (status: number, body: unknown, raw?: string) => {
      answer = { status, body, ...(raw !== undefined && { raw }) };
      return rejection(client().deleteProductSet('9', 't'));
    };
    const details = await refusal(400, { error: { message: 'Invalid parameter', code: 100, error_data: { details: 'filter must be JSON' } } });
    expect(details).toMatchObject({ message: 'Meta catalog API 400 (#100): Invalid parameter – filter must be JSON', code: 100, retryable: false });
    // Meta's message for the user, where it gives one, says more than error_data.
    const userMessage = await refusal(400, { error: { message: 'Invalid parameter', code: 100, error_user_msg: 'The product set is live', error_data: { details: 'x' } } });
    expect(userMessage.message).toBe('Meta catalog API 400 (#100): Invalid parameter – The product set is live');
    const html = await refusal(502, null, '<html>Bad Gateway</html>');
    expect(html).toMatchObject({ message: 'Meta catalog API 502: Bad Gateway', httpStatus: 502, code: 0, retryable: true });
    const notJson = await refusal(200, null, 'ok');
    expect(notJson).toMatchObject({ message: 'Meta catalog API 200: the answer is not JSON', retryable: false });
    const noBody = await refusal(403, null, '');
    expect(noBody).toMatchObject({ message: 'Meta catalog API 403: Forbidden', code: 0, retryable: false });
  });

  it('reads validation_status refusals and the rows a finished batch did not save', async () => {
    answer = { status: 200, body: { handles: ['H1'], validation_status: [{ retailer_id: 'SKU-2', errors: [{ message: 'price is invalid' }], warnings: [] }] } };
    expect(await client().itemsBatch('1', [{ method: 'DELETE', data: { id: 'SKU-2' } }], 't')).toEqual({ handles: ['H1'], refused: [{ retailerId: 'SKU-2', message: 'price is invalid' }] });
    answer = { status: 200, body: { data: [{ handle: 'H1', status: 'Finished', errors_total_count: 2, errors: [{ line: 0, id: 'SKU-2', message: 'without required field Availability' }], ids_of_invalid_requests: ['SKU-2', 'SKU-3'] }] } };
    expect(await client().batchStatus('1', 'H1', 't')).toEqual({
      status: 'finished',
      done: true,
      errorsTotal: 2,
      invalid: [
        { retailerId: 'SKU-2', message: 'without required field Availability' },
        { retailerId: 'SKU-3', message: 'Meta did not save this item (no message in its sample of errors)' },
      ],
    });
    answer = { status: 200, body: { data: [{ handle: 'H1', status: 'dispatched' }] } };
    expect(await client().batchStatus('1', 'H1', 't')).toMatchObject({ status: 'dispatched', done: false });
  });
});
