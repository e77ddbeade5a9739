import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { flowDefinitions } from '../../providers/whatsapp/flow-management.ts';
import { validateFlowJson } from '../fakes/graph-flows.ts';

/**
 * The committed Flow JSON (flows/*.json) against the rules of protocols.md §11.6 that can be checked here: what the
 * Graph stand-in checks, every `${data.x}` declared on its screen with an example, every `${form.x}` an input of the
 * screen, the component limits, and routing to declared screens.
 */
type Json = Record<string, unknown>;
const INPUTS = new Set(['TextInput', 'TextArea', 'Dropdown', 'RadioButtonsGroup', 'CheckboxGroup', 'DatePicker', 'OptIn']);
const LABEL_LIMIT: Record<string, number> = { TextInput: 20, TextArea: 20, Dropdown: 20, RadioButtonsGroup: 30, CheckboxGroup: 30, Footer: 35 };

function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => strings(v, out));
  return out;
}

describe.each(flowDefinitions().map((d) => [d.kind, d] as const))('flow %s', (_kind, def) => {
  const flow = JSON.parse(def.json) as Json & { screens: (Json & { id: string; data?: Record<string, Json>; layout: { children: Json[] } })[] };

  it('is the committed file, and passes the Graph stand-in’s validation', () => {
    expect(def.json).toBe(readFileSync(new URL(`../../flows/${def.kind === 'customise' ? 'customise-product' : 'payment-form'}.json`, import.meta.url), 'utf8'));
    expect(validateFlowJson(def.json)).toEqual([]);
    expect(flow.version).toBe('7.3');
    expect(flow.screens[0]!.id).toBe(def.firstScreen);
    expect(def.usesEndpoint).toBe(flow.data_api_version === '3.0');
  });

  it('binds only declared data and inputs of the same screen; no null anywhere; labels within Meta’s limits', () => {
    expect(def.json).not.toMatch(/:\s*null/);
    for (const screen of flow.screens) {
      const declared = new Set(Object.keys(screen.data ?? {}));
      for (const [key, prop] of Object.entries(screen.data ?? {})) expect([screen.id, key, '__example__' in prop]).toEqual([screen.id, key, true]);
      const inputs = new Set(screen.layout.children.filter((c) => INPUTS.has(String(c.type))).map((c) => String(c.name)));
      for (const text of strings(screen.layout)) {
        for (const [, kind, name] of text.matchAll(/\$\{(data|form)\.(\w+)\}/g)) expect([screen.id, kind, name, kind === 'data' ? declared.has(name!) : inputs.has(name!)]).toEqual([screen.id, kind, name, true]);
      }
      for (const c of screen.layout.children) {
        const limit = LABEL_LIMIT[String(c.type)];
        if (limit && typeof c.label === 'string' && !c.label.startsWith('${')) expect(c.label.length).toBeLessThanOrEqual(limit);
      }
      if (screen.terminal) expect(screen.layout.children.some((c) => c.type === 'Footer')).toBe(true);
    }
  });
});
