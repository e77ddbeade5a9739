import { describe, expect, it } from '@jest/globals';
import { WHATSAPP_LIMITS, morePageOf, paginateRows, shorten } from '../../domain/outbound.ts';
import type { ListRow } from '../../domain/outbound.ts';

describe('shorten', () => {
  it('leaves text that fits untouched', () => {
    expect(shorten('EcoCash', 20)).toBe('EcoCash');
    expect(shorten('x'.repeat(20), 20)).toBe('x'.repeat(20));
    expect(shorten('', 0)).toBe('');
  });

  it('cuts at a word boundary and ends with an ellipsis', () => {
    const out = shorten('Extra large family pizza', 20);
    expect(out).toBe('Extra large family…');
    expect(out.length).toBeLessThanOrEqual(20);
  });

  it('uses the boundary right after the allowance when a word ends exactly there', () => {
    expect(shorten('Maize meal 10kg bag', 11)).toBe('Maize meal…');
  });

  it('drops dangling punctuation before the ellipsis', () => {
    expect(shorten('Delivery, pickup, or courier service', 19)).toBe('Delivery, pickup…');
  });

  it('cuts mid-word when the only boundary would waste most of the room', () => {
    const out = shorten('A supercalifragilisticexpialidocious bag', 20);
    expect(out).toBe('A supercalifragilis…');
    expect(out.length).toBe(20);
  });

  it('never splits a surrogate pair and never exceeds max', () => {
    const text = '🍕'.repeat(15);
    for (let max = 0; max <= 31; max++) {
      const out = shorten(text, max);
      expect(out.length).toBeLessThanOrEqual(max);
      expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }
    expect(shorten('ab🍕cd', 4)).toBe('ab…');
    expect(shorten('Pay 🍕 now please', 8)).toBe('Pay 🍕…');
  });

  it('handles tiny limits', () => {
    expect(shorten('hello', 1)).toBe('…');
    expect(shorten('hello', 0)).toBe('');
    expect(() => shorten('hello', -1)).toThrow(RangeError);
  });

  it('holds for arbitrary text and limits', () => {
    const words = ['Sadza', 'ne', 'nyama', '🍗', 'chicken,', 'délicieux', 'x'.repeat(30), '—', 'pap'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 500; i++) {
      const text = Array.from({ length: 1 + (next() % 12) }, () => words[next() % words.length]).join(' ');
      const max = next() % 40;
      const out = shorten(text, max);
      expect(out.length).toBeLessThanOrEqual(max);
      if (text.length <= max) expect(out).toBe(text);
      else if (max > 0) expect(out.endsWith('…')).toBe(true);
    }
  });
});

describe('paginateRows', () => {
  const rows: ListRow[] = Array.from({ length: 23 }, (_, i) => ({ id: `p${i + 1}`, title: `Product ${i + 1}` }));

  it('splits 23 rows into 10 / 10 / 5 with "more" rows', () => {
    const pages = [0, 1, 2].map((p) => paginateRows(rows, p, 'More products'));
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    expect(pages[0]!.slice(0, 9).map((r) => r.id)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    expect(pages[0]![9]).toEqual({ id: 'more:1', title: 'More products' });
    expect(pages[1]!.slice(0, 9).map((r) => r.id)).toEqual(['p10', 'p11', 'p12', 'p13', 'p14', 'p15', 'p16', 'p17', 'p18']);
    expect(pages[1]![9]).toEqual({ id: 'more:2', title: 'More products' });
    expect(pages[2]!.map((r) => r.id)).toEqual(['p19', 'p20', 'p21', 'p22', 'p23']);
    expect(paginateRows(rows, 3, 'More')).toEqual([]);
  });

  it('shows a full page of 10 without a "more" row when exactly 10 remain', () => {
    expect(paginateRows(rows.slice(0, 10), 0, 'More')).toEqual(rows.slice(0, 10));
    expect(paginateRows(rows.slice(0, 19), 1, 'More')).toEqual(rows.slice(9, 19));
  });

  it('every page fits a list message and the "more" title fits a row', () => {
    for (let p = 0; p < 3; p++) expect(paginateRows(rows, p, 'x'.repeat(40)).length).toBeLessThanOrEqual(WHATSAPP_LIMITS.listRows);
    expect(paginateRows(rows, 0, 'See even more of our wonderful products')[9]!.title.length).toBeLessThanOrEqual(WHATSAPP_LIMITS.rowTitle);
  });

  it('rejects a bad page number', () => {
    expect(() => paginateRows(rows, -1, 'More')).toThrow(RangeError);
    expect(() => paginateRows(rows, 1.5, 'More')).toThrow(RangeError);
  });

  it('morePageOf reads the page back from a row id', () => {
    expect(morePageOf('more:2')).toBe(2);
    expect(morePageOf('p1')).toBeNull();
    expect(morePageOf('more:x')).toBeNull();
  });
});
