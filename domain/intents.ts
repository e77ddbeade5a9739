import type { Language } from './i18n.ts';

/** What a customer's free text asks for. Button and list replies carry ids and never come through here. */
export type Intent = 'greeting' | 'menu' | 'shop' | 'cart' | 'checkout' | 'pay' | 'help' | 'cancel' | 'language' | 'unknown';

const words: [Intent, RegExp][] = [
  ['cancel', /^(cancel|stop|quit|abort|exit|ghairi|acha|sitisha)\b/],
  ['greeting', /^(hi+|hello|hey|hallo|good (morning|afternoon|evening)|habari|jambo|hujambo|mambo|sasa|niaje|salama|namaste)\b/],
  ['menu', /^(menu|menyu|start|main menu|home|anza)\b/],
  ['cart', /\b(my cart|cart|basket|kikapu)\b/],
  ['checkout', /\b(checkout|check out|place (my )?order|lipia|nunua sasa)\b/],
  ['pay', /^(pay|lipa)\b|\bpay (a |my )?booking\b/],
  ['help', /^(help|msaada|\?)$|\bhelp\b/],
  ['language', /^(language|lugha|kiswahili|swahili|english|kiingereza)\b/],
  ['shop', /\b(show me the menu|the menu|shop|browse|products|catalog(ue)?|order food|bidhaa|nunua)\b/],
];

export function detectIntent(text: string): Intent {
  const t = text.trim().toLowerCase().replace(/[!.,]+$/g, '');
  if (!t) return 'unknown';
  for (const [intent, pattern] of words) if (pattern.test(t)) return intent;
  return 'unknown';
}

const swahiliHints = /\b(habari|jambo|hujambo|mambo|niaje|sasa|karibu|asante|nataka|tafadhali|menyu|kikapu|lipa|salama)\b/;

/** A first message in Swahili sets the conversation's language; anything else keeps the shop's default. */
export function detectLanguage(text: string): Language | undefined {
  return swahiliHints.test(text.toLowerCase()) ? 'sw' : undefined;
}

/** "2", " 3 ", "two"? Only digits: a clear number or nothing. */
export function parseQuantity(text: string): number | null {
  const t = text.trim();
  if (!/^\d{1,4}$/.test(t)) return null;
  return Number(t);
}
