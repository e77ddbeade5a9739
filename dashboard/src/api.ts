/** The admin API with the operator's bearer token (kept in sessionStorage: this tab only). */
const TOKEN_KEY = 'duka-admin-token';

export class AuthError extends Error {}

export const session = {
  get token(): string {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  },
  set token(value: string) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** `/api/admin<path>`: the JSON answer, AuthError on 401, an Error carrying the API's message otherwise. */
export async function call<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`/api/admin${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${session.token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  const body = text ? (JSON.parse(text) as unknown) : null;
  const message = (body as { error?: { message?: string } } | null)?.error?.message;
  if (res.status === 401) throw new AuthError(message ?? 'unauthorized');
  if (!res.ok) throw new Error(message ?? `${res.status} ${res.statusText}`);
  return body as T;
}

/** A query string of the values given (empty ones left out). */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '' && v !== false) q.set(k, String(v));
  return q.size ? `?${q}` : '';
}
