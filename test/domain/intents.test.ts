import { describe, expect, it } from '@jest/globals';
import { PHRASES, detectIntent, detectIntentBeforeTable, detectLanguage, editDistance, normalise, type Intent } from '../../domain/intents.ts';

/** Every trigger a seed quotes, word for word, with what it must do. */
const SEED_PHRASES: [string, Intent, string][] = [
  ['menu', 'menu', 'seed 000, 003'],
  ['hi', 'greeting', 'seed 000'],
  ['hello', 'greeting', 'seed 000'],
  ['Hi', 'greeting', 'seed 001'],
  ['Shop Products', 'shop', 'seed 000 menu row'],
  ['View Products', 'shop', 'seed 001 button'],
  ['View Promotions', 'promotions', 'seed 001 button'],
  ['skip', 'skip', "seed 001 \"reply 'skip'\""],
  ['M-Pesa', 'pay', 'seed 001 payment button'],
  ['Card', 'pay', 'seed 001 payment button'],
  ['Show me the menu', 'shop', 'seed 002'],
  ['Show me your menu', 'shop', 'seed 002'],
  ['show menu', 'shop', 'seed 002'],
  ['Show my cart', 'cart', 'seed 002'],
  ['Checkout', 'checkout', 'seed 002 button'],
  ['Add More', 'shop', 'seed 002 button'],
  ['Clear Cart', 'clear_cart', 'seed 002 button'],
  ['Delivery', 'delivery', 'seed 002'],
  ['pay', 'pay', 'seed 003'],
  ['payment', 'pay', 'seed 003'],
  ['make payment', 'pay', 'seed 003'],
  ['omari payment', 'pay', 'seed 003'],
  ['Mobile Payment', 'pay', 'seed 003 menu row'],
  ['cancel', 'cancel', 'seed 003'],
  ['stop', 'cancel', 'seed 003'],
  ['quit', 'cancel', 'seed 003'],
  ['abort', 'cancel', 'seed 003'],
  ['Proceed to Checkout', 'checkout', 'seed 004'],
  ['Pay Now', 'pay', 'seed 004 button'],
  ['Help', 'help', 'seed 004 button'],
];

const SWAHILI: [string, Intent][] = [
  ['habari', 'greeting'],
  ['Mambo', 'greeting'],
  ['menyu', 'menu'],
  ['nionyeshe menyu', 'shop'],
  ['bidhaa', 'shop'],
  ['kikapu changu', 'cart'],
  ['lipia', 'checkout'],
  ['lipa', 'pay'],
  ['malipo', 'pay'],
  ['fanya malipo', 'pay'],
  ['msaada', 'help'],
  ['ghairi', 'cancel'],
  ['acha', 'cancel'],
  ['lugha', 'language'],
  ['ofa', 'promotions'],
  ['futa kikapu', 'clear_cart'],
  ['ruka', 'skip'],
  ['namba nyingine', 'other_number'],
  ['namba yangu', 'this_number'],
];

describe('intents, word for word', () => {
  it.each(SEED_PHRASES)('"%s" → %s (%s)', (text, intent) => {
    expect(detectIntent(text)).toBe(intent);
  });

  it.each(SWAHILI)('Swahili "%s" → %s', (text, intent) => {
    expect(detectIntent(text)).toBe(intent);
  });

  it('reads every phrase of the table as its own intent, in any case and with punctuation or an emoji', () => {
    for (const [intent, { en, sw }] of Object.entries(PHRASES)) {
      for (const phrase of [...en, ...sw]) {
        expect([phrase, detectIntent(phrase)]).toEqual([phrase, intent]);
        expect([phrase, detectIntent(`  ${phrase.toUpperCase()}!! 🙂`)]).toEqual([phrase, intent]);
      }
    }
  });

  it('forgives case, punctuation, politeness and a typo a person would make', () => {
    expect(detectIntent('PAYMENT.')).toBe('pay');
    expect(detectIntent('Make Payment please')).toBe('pay');
    expect(detectIntent('paymnet')).toBe('pay');
    expect(detectIntent('make paymnt')).toBe('pay');
    expect(detectIntent('omari paymet')).toBe('pay');
    expect(detectIntent('chekcout')).toBe('checkout');
    expect(detectIntent('show me you menu')).toBe('shop');
    expect(detectIntent('shwo menu')).toBe('shop');
    expect(detectIntent('Show me your menu?')).toBe('shop');
    expect(detectIntent('tafadhali nionyeshe menyu')).toBe('shop');
    expect(detectIntent('I want to make payment')).toBe('pay');
    expect(detectIntent('anothr number')).toBe('other_number');
    expect(detectIntent('💳 Card')).toBe('pay');
  });

  it('does not guess from short words, or where a slip would throw something away', () => {
    expect(detectIntent('cart')).toBe('cart');
    expect(detectIntent('card')).toBe('pay');
    expect(detectIntent('about')).toBe('unknown');
    expect(detectIntent('cancle')).toBe('unknown');
    expect(detectIntent('clear crat')).toBe('unknown');
    expect(detectIntent('hoy')).toBe('unknown');
    expect(detectIntent('Kenyatta Avenue 12, Nairobi CBD')).toBe('unknown');
    expect(detectIntent('0712 345 678')).toBe('unknown');
    expect(detectIntent('2')).toBe('unknown');
    expect(detectIntent('')).toBe('unknown');
  });

  it('still finds a request inside a longer sentence', () => {
    expect(detectIntent('can I see my cart')).toBe('cart');
    expect(detectIntent('I would like to pay my booking')).toBe('pay');
    expect(detectIntent('hello there, anyone?')).toBe('greeting');
  });

  it('keeps the reading from before the table for conversations that started under it', () => {
    expect(detectIntentBeforeTable('payment')).toBe('unknown');
    expect(detectIntentBeforeTable('show menu')).toBe('unknown');
    expect(detectIntentBeforeTable('pay')).toBe('pay');
    expect(detectIntentBeforeTable('Show me the menu')).toBe('shop');
  });

  it('measures typos with adjacent swaps as one edit, and stops early past the bound', () => {
    expect(editDistance('chekcout', 'checkout', 2)).toBe(1);
    expect(editDistance('payment', 'paymnet', 2)).toBe(1);
    expect(editDistance('kitten', 'sitting', 5)).toBe(3);
    expect(editDistance('abc', 'xyzxyz', 1)).toBe(2);
    expect(normalise('  M-Pesa!! ')).toBe('m-pesa');
    expect(normalise('Café — menu')).toBe('cafe menu');
  });

  it('takes a first message in Swahili as the language, not a request to switch it', () => {
    for (const text of ['habari', 'nionyeshe menyu', 'malipo', 'Lipa booking', 'msaada']) expect([text, detectLanguage(text)]).toEqual([text, 'sw']);
    for (const text of ['hi', 'Show me your menu', 'payment', 'lugha']) expect([text, detectLanguage(text)]).toEqual([text, undefined]);
  });
});
