import type { Language } from './i18n.ts';

/** What a customer's free text asks for. Button and list replies carry ids and never come through here. */
export type Intent =
  | 'greeting'
  | 'menu'
  | 'shop'
  | 'cart'
  | 'checkout'
  | 'pay'
  | 'help'
  | 'cancel'
  | 'language'
  | 'promotions'
  | 'clear_cart'
  | 'skip'
  | 'delivery'
  | 'pickup'
  | 'this_number'
  | 'other_number'
  | 'unknown';

/**
 * Every phrase a customer types for an intent: the seeds' triggers and button titles word for word (a customer types
 * what they saw on a button), and what a Swahili speaker would type for the same. "menu" alone is the main menu (seed
 * 000); "show menu" is the shop's menu of products (seed 002). "Card" and "M-Pesa" are payment buttons in seed 001.
 */
export const PHRASES: Record<Exclude<Intent, 'unknown'>, { en: readonly string[]; sw: readonly string[] }> = {
  greeting: {
    en: ['hi', 'hello', 'hey', 'hallo', 'hiya', 'good morning', 'good afternoon', 'good evening', 'namaste'],
    sw: ['habari', 'jambo', 'hujambo', 'mambo', 'sasa', 'niaje', 'salama', 'shikamoo', 'hodi', 'habari yako', 'habari za asubuhi'],
  },
  menu: { en: ['menu', 'main menu', 'start', 'start again', 'home'], sw: ['menyu', 'menyu kuu', 'anza', 'anza upya', 'mwanzo'] },
  shop: {
    en: ['show me your menu', 'show me the menu', 'show menu', 'show the menu', 'view menu', 'view products', 'shop products', 'shop', 'browse', 'products', 'catalog', 'catalogue', 'add more', 'order food', 'see products'],
    sw: ['nunua', 'bidhaa', 'onyesha bidhaa', 'onyesha menyu', 'nionyeshe menyu', 'nionyeshe bidhaa', 'angalia bidhaa', 'ongeza zaidi', 'ongeza bidhaa'],
  },
  cart: { en: ['show my cart', 'show cart', 'my cart', 'view cart', 'cart', 'basket'], sw: ['kikapu', 'kikapu changu', 'onyesha kikapu', 'angalia kikapu'] },
  checkout: {
    en: ['checkout', 'check out', 'proceed to checkout', 'place order', 'place my order', 'confirm order'],
    sw: ['lipia', 'nunua sasa', 'maliza oda', 'weka oda', 'thibitisha oda'],
  },
  pay: {
    en: ['pay', 'payment', 'make payment', 'make a payment', 'omari payment', 'mobile payment', 'pay now', 'pay a booking', 'pay booking', 'card', 'pay by card', 'm-pesa', 'mpesa', 'lipa na mpesa'],
    sw: ['lipa', 'malipo', 'fanya malipo', 'lipa sasa', 'lipa booking', 'malipo ya simu'],
  },
  help: { en: ['help', '?', 'support', 'how does this work'], sw: ['msaada', 'saidia', 'nisaidie'] },
  cancel: { en: ['cancel', 'stop', 'quit', 'abort', 'exit', 'cancel order'], sw: ['ghairi', 'acha', 'sitisha', 'ghairi oda'] },
  language: { en: ['language', 'english', 'swahili', 'kiswahili', 'change language'], sw: ['lugha', 'kiingereza', 'badilisha lugha'] },
  promotions: { en: ['view promotions', 'promotions', 'promotion', 'offers', 'promos'], sw: ['ofa', 'punguzo', 'matoleo'] },
  clear_cart: { en: ['clear cart', 'clear my cart', 'empty cart', 'empty my cart'], sw: ['futa kikapu', 'safisha kikapu', 'ondoa vyote'] },
  skip: { en: ['skip', 'no address', 'skip address'], sw: ['ruka', 'hakuna anwani'] },
  delivery: { en: ['delivery', 'deliver', 'deliver it', 'home delivery'], sw: ['niletee', 'usafirishaji', 'leta nyumbani'] },
  pickup: { en: ['pickup', 'pick up', 'collect', 'i will collect'], sw: ['nitachukua', 'nitakuja kuchukua', 'kuchukua'] },
  this_number: { en: ['this number', 'my number', 'same number', 'this one', 'me', 'mine', 'same'], sw: ['hii', 'namba hii', 'namba yangu', 'yangu'] },
  other_number: {
    en: ['another number', 'other number', 'different number', 'a different number', 'pay from another number', 'use another number', 'new number'],
    sw: ['namba nyingine', 'nambari nyingine', 'lipa kwa namba nyingine', 'namba tofauti'],
  },
};

const EXACT = new Map<string, Intent>();
for (const [intent, { en, sw }] of Object.entries(PHRASES) as [Intent, { en: readonly string[]; sw: readonly string[] }][]) {
  for (const phrase of [...en, ...sw]) {
    const key = normalise(phrase);
    if (EXACT.has(key)) throw new Error(`"${phrase}" is in the intent table twice`);
    EXACT.set(key, intent);
  }
}

/** Said around a request without changing it: "please", "I want to", "nataka", "tafadhali". */
const FILLER_BEFORE = /^(please|pls|plz|kindly|i want to|i would like to|i'd like to|i wanna|can i|could you|can you|let me|tafadhali|nataka|naomba|ningependa)\s+/;
const FILLER_AFTER = /\s+(please|pls|plz|tafadhali|thanks|thank you|asante)$/;

/** Lower case, accents and emoji gone, punctuation as spaces ("M-Pesa" keeps its hyphen), one space between words. */
export function normalise(text: string): string {
  const t = text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[’`]/g, "'")
    .replace(/[^\p{L}\p{N}'?\s-]+/gu, ' ')
    .replace(/(^|\s)-+|-+(\s|$)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return t === '?' ? t : t.replace(/\s*\?+$/, '');
}

function withoutFillers(t: string): string {
  let before;
  let out = t;
  do {
    before = out;
    out = out.replace(FILLER_BEFORE, '').replace(FILLER_AFTER, '');
  } while (out !== before && out.length > 0);
  return out || t;
}

/** Optimal string alignment distance (Levenshtein with adjacent swaps, "chekcout"), stopping once over `max`. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > max) return max + 1;
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/**
 * Typos a person would forgive: one slip in a word of five letters or more, two in a phrase of nine or more. Shorter
 * words must be exact ("card" is not "cart", "sasa" is not "saa"), and so must whatever throws something away ("about"
 * is not "abort"). A typo as close to two intents is not guessed.
 */
const EXACT_ONLY: ReadonlySet<Intent> = new Set(['cancel', 'clear_cart']);
const allowedTypos = (phrase: string, intent: Intent) => (EXACT_ONLY.has(intent) ? 0 : phrase.length >= 9 ? 2 : phrase.length >= 5 ? 1 : 0);

function fuzzy(t: string): Intent | undefined {
  let found: { intent: Intent; distance: number } | undefined;
  let tied = false;
  for (const [phrase, intent] of EXACT) {
    const max = allowedTypos(phrase, intent);
    if (max === 0) continue;
    const distance = editDistance(t, phrase, max);
    if (distance > max) continue;
    if (!found || distance < found.distance) {
      found = { intent, distance };
      tied = false;
    } else if (distance === found.distance && intent !== found.intent) tied = true;
  }
  return found && !tied ? found.intent : undefined;
}

/** Longer sentences that contain a request ("can I see my cart?", "I want to pay a booking"): from before the table. */
const CONTAINS: [Intent, RegExp][] = [
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

function contained(t: string): Intent {
  for (const [intent, pattern] of CONTAINS) if (pattern.test(t)) return intent;
  return 'unknown';
}

/** What a customer's text asks for: the table word for word, then with forgivable typos, then a request inside a sentence. */
export function detectIntent(text: string): Intent {
  const t = withoutFillers(normalise(text));
  if (!t) return 'unknown';
  return EXACT.get(t) ?? fuzzy(t) ?? contained(t);
}

/** The reading before the table (conversations that started before patch `intents-table` keep it). */
export function detectIntentBeforeTable(text: string): Intent {
  const t = text.trim().toLowerCase().replace(/[!.,]+$/g, '');
  if (!t) return 'unknown';
  return contained(t);
}

// Not "lugha": a first message asking to switch language would be read in Swahili, then switched to English.
const swahiliHints = /\b(habari|jambo|hujambo|mambo|niaje|sasa|karibu|asante|nataka|tafadhali|menyu|kikapu|lipa|lipia|malipo|salama|shikamoo|nionyeshe|onyesha|bidhaa|msaada|ghairi|nunua)\b/;

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
