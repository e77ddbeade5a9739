export default async function globalTeardown(): Promise<void> {
  const stops = (globalThis as { __dukaStops?: (() => Promise<void>)[] }).__dukaStops ?? [];
  for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error('teardown:', err));
}
