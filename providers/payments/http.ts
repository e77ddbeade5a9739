/** A provider's answer: the HTTP status and the body as JSON when it is JSON, else its text. */
export interface JsonReply {
  status: number;
  body: unknown;
}

/**
 * One JSON call to a provider's REST API. Network failures become plain (retryable) errors naming the provider; HTTP
 * errors are returned for the provider to classify, since each says "your fault" and "try again" differently.
 */
export async function callJson(
  provider: string,
  fetchImpl: typeof fetch,
  request: { method: 'GET' | 'POST'; url: string; path: string; authorization: string; body?: unknown; timeoutMs: number },
): Promise<JsonReply> {
  let res: Response;
  try {
    res = await fetchImpl(request.url, {
      method: request.method,
      headers: { authorization: request.authorization, accept: 'application/json', ...(request.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.timeout(request.timeoutMs),
    });
  } catch (err) {
    throw new Error(`${provider} unreachable (${request.method} ${request.path.split('?')[0]}): ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text().catch(() => '');
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Gateways in front of providers answer outages with HTML; keep the text for the error message.
  }
  return { status: res.status, body: parsed };
}
