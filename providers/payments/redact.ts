/** A provider body with the values of personal fields (phone, e-mail, UPI id, name…) replaced, at any depth: for stored events. */
export function withoutPersonalKeys(value: unknown, keys: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutPersonalKeys(v, keys));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, v]) => [key, keys.has(key) && v !== null ? 'redacted' : withoutPersonalKeys(v, keys)]),
  );
}
