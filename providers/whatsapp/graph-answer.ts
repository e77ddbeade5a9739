/**
 * A Graph API answer read once: its JSON object on success, else Meta's error (§1.7 shape: `error.code`, `message`,
 * `error_user_msg` or `error_data.details`), or what stood in for it when the body was not Meta's.
 */
export type GraphAnswer = { ok: true; json: Record<string, unknown> } | { ok: false; code: number; message: string; details?: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

export async function readGraphAnswer(response: Response): Promise<GraphAnswer> {
  const text = await response.text().catch(() => '');
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = undefined;
  }
  if (response.ok && isObject(json)) return { ok: true, json };
  const error = isObject(json) && isObject(json.error) ? json.error : {};
  const details = str(error.error_user_msg) ?? (isObject(error.error_data) ? str(error.error_data.details) : undefined);
  return {
    ok: false,
    code: typeof error.code === 'number' ? error.code : 0,
    message: str(error.message) ?? (response.ok ? 'the answer is not JSON' : response.statusText || 'no error body'),
    ...(details ? { details } : {}),
  };
}
