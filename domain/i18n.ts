import type { FailureReason } from './payment-methods.ts';
import { formatMoney, type Money } from './money.ts';

/** Every word a customer reads, per language, in one place. */
export type Language = 'en' | 'sw';
export const LANGUAGES: readonly Language[] = ['en', 'sw'];

export function isLanguage(x: string | undefined): x is Language {
  return x === 'en' || x === 'sw';
}

/** Why a payment did not go through, as the customer reads it (failure reasons the texts do not know read as declined). */
const EN_FAILURES: Record<FailureReason, string> = {
  cancelled_by_customer: 'You cancelled the payment on your phone.',
  wrong_pin: 'The PIN was wrong.',
  wrong_otp: 'The OTP was wrong too many times.',
  insufficient_funds: 'There is not enough money in the account.',
  invalid_number: 'That number cannot pay with this method.',
  timeout: "We didn't get a confirmation in time.",
  limit_exceeded: 'The payment is over your account limit.',
  declined: 'The payment was declined.',
  expired: 'The payment link expired.',
  provider_error: 'The payment service is having trouble right now. No money was taken for this try.',
};

const SW_FAILURES: Record<FailureReason, string> = {
  cancelled_by_customer: 'Umeghairi malipo kwenye simu yako.',
  wrong_pin: 'PIN haikuwa sahihi.',
  wrong_otp: 'OTP imekosewa mara nyingi mno.',
  insufficient_funds: 'Salio halitoshi.',
  invalid_number: 'Namba hiyo haiwezi kulipa kwa njia hii.',
  timeout: 'Hatukupata uthibitisho kwa wakati.',
  limit_exceeded: 'Malipo yamezidi kikomo cha akaunti yako.',
  declined: 'Malipo yamekataliwa.',
  expired: 'Kiungo cha malipo kimeisha muda.',
  provider_error: 'Huduma ya malipo ina tatizo kwa sasa. Hakuna pesa iliyochukuliwa kwa jaribio hili.',
};

const en = {
  greeting: (shop: string, name?: string) => `Hi${name ? ` ${name}` : ''}! 👋 Welcome to ${shop}. What would you like to do?`,
  menuShop: 'Shop',
  menuCart: 'My cart',
  menuBooking: 'Pay a booking',
  menuHelp: 'Help',
  menuLanguage: 'Kiswahili',
  menuPromotions: 'View promotions',
  menuButton: 'Menu',
  promotionsTitle: (shop: string) => `🏷️ *Promotions at ${shop}*`,
  promotionOff: (off: { percent?: number; amount?: string }) => (off.percent !== undefined ? `${off.percent}% off` : `${off.amount} off each`),
  promotionUntil: (date: string) => `until ${date}`,
  noPromotions: 'There are no promotions right now.',
  discountLine: (title: string, amount: string) => `🏷️ ${title}: −${amount}`,
  help: (shop: string) =>
    `${shop} on WhatsApp:\n• *menu* – start again\n• *shop* – browse products\n• *cart* – see your cart\n• *checkout* – place your order\n• *pay* – pay a booking\n• *cancel* – stop what you are doing\n• *lugha* – Kiswahili`,
  languageSet: 'Language set to English.',
  categoriesBody: 'Pick a category:',
  categoriesButton: 'Categories',
  catalogRow: 'Browse the catalog',
  catalogBody: (shop: string) => `Browse ${shop}'s catalog and send us your cart.`,
  productsBody: (category: string) => `${category}: pick a product.`,
  productsButton: 'Products',
  more: 'More…',
  back: 'Back',
  noProducts: 'Nothing here right now. Try another category.',
  productCaption: (name: string, price: string, description?: string) => `*${name}*\n${price}${description ? `\n${description}` : ''}`,
  addToCart: 'Add to cart',
  unavailable: (name: string) => `Sorry, ${name} is not available right now.`,
  askQuantity: (name: string, max: number) => `How many *${name}* would you like? Reply with a number from 1 to ${max}.`,
  badQuantity: (max: number) => `Please reply with a number from 1 to ${max}.`,
  tooManyTries: "Let's start again.",
  outOfStock: (name: string, stock: number) => (stock > 0 ? `Only ${stock} ${name} left. Please choose ${stock} or fewer.` : `Sorry, ${name} is sold out.`),
  pricesChanged: (total: string) => `Some prices changed since you added them to your cart. Your new total is *${total}*. Please check and confirm.`,
  placeRefused: (reason: string) => `${reason} Your order was not placed: change your cart, or cancel.`,
  chooseSize: (name: string) => `Choose a size for *${name}*:`,
  sizesButton: 'Sizes',
  chooseOne: (group: string) => `Choose your ${group.toLowerCase()}:`,
  chooseMany: (group: string, max: number, chosen: string[]) =>
    `${group}: pick up to ${max}${chosen.length ? ` (chosen: ${chosen.join(', ')})` : ''}. Tap *Done* when finished.`,
  optionsButton: 'Options',
  done: 'Done',
  none: 'No thanks',
  breakdown: (lines: string[], unit: string) => `${lines.join('\n')}\n*Each: ${unit}*`,
  added: (qty: number, name: string, subtotal: string) => `Added ${qty} × ${name}. Cart subtotal: ${subtotal}.`,
  cartEmpty: 'Your cart is empty.',
  cartTitle: 'Your cart',
  cartView: (lines: string[], subtotal: string, discounts: string[] = []) => `🛒 *Your cart*\n${lines.join('\n')}\n\n${discounts.map((d) => `${d}\n`).join('')}Subtotal: *${subtotal}*`,
  checkout: 'Checkout',
  addMore: 'Add more',
  clear: 'Clear cart',
  cleared: 'Your cart is empty now.',
  howToReceive: 'How would you like to get your order?',
  delivery: 'Delivery',
  pickup: 'Pickup',
  askAddress: 'Please type your delivery address, or share your location 📍.',
  badAddress: 'That address looks too short. Please type the street and area, or share your location.',
  summary: (orderNumber: string, lines: string[], totals: { subtotal: string; discounts?: string[]; tax?: string; taxIncluded: boolean; delivery?: string; total: string }, fulfilment: string) =>
    [
      `🧾 *Order ${orderNumber}*`,
      ...lines,
      '',
      `Subtotal: ${totals.subtotal}`,
      ...(totals.discounts ?? []),
      ...(totals.tax ? [`${totals.taxIncluded ? 'Incl. tax' : 'Tax'}: ${totals.tax}`] : []),
      ...(totals.delivery ? [`Delivery: ${totals.delivery}`] : []),
      `*Total: ${totals.total}*`,
      fulfilment,
    ].join('\n'),
  deliverTo: (address: string) => `🚚 Delivery to: ${address}`,
  pickupAt: (shop: string) => `🏪 Pickup at ${shop}`,
  confirm: 'Confirm',
  editCart: 'Edit cart',
  cancel: 'Cancel',
  choosePayment: 'How would you like to pay?',
  paymentButton: 'Payment',
  methodName: {
    mpesa: 'M-Pesa',
    ecocash: 'EcoCash',
    onemoney: 'OneMoney',
    innbucks: 'InnBucks',
    paynow_web: 'Paynow (card)',
    omari: "O'mari",
    razorpay_link: 'Pay online (UPI/card)',
    cash: 'Cash',
  } as Record<string, string>,
  cashLabel: (fulfilment: 'delivery' | 'pickup' | null): string => (fulfilment === 'pickup' ? 'Pay at pickup' : 'Cash on delivery'),
  confirmed: (orderNumber: string, total: string, eta: number, fulfilment: 'delivery' | 'pickup' | null) =>
    `✅ Order *${orderNumber}* confirmed. Total ${total}, ${fulfilment === 'pickup' ? 'to pay at pickup' : 'to pay on delivery'}.\nIt will be ${fulfilment === 'pickup' ? 'ready for pickup' : 'with you'} in about ${eta} minutes.`,
  cancelled: 'Cancelled. Type *menu* whenever you want to start again.',
  orderCancelled: (orderNumber: string) => `Order ${orderNumber} has been cancelled.`,
  stepCancelled: 'OK, stopped. Type *menu* to see options.',
  reminder: (count: number, subtotal: string) => `You left ${count} item${count === 1 ? '' : 's'} in your cart (${subtotal}). Reply *checkout* to finish your order.`,
  expired: (orderNumber: string) => `Your cart ${orderNumber} has expired. Type *menu* to start a new order.`,
  notUnderstood: "Sorry, I didn't get that. Type *menu* for options or *help*.",
  media: 'Thanks! I can only read text and button replies here. Type *menu* to see options.',
  unknownItems: (items: string[]) => `These items are not available and were left out: ${items.join(', ')}.`,
  catalogCartEmpty: 'None of those items are available right now.',
  statusUpdate: (orderNumber: string, status: string) => `Order ${orderNumber}: ${status}`,
  statusText: {
    PREPARING: 'we are preparing your order 👩‍🍳',
    OUT_FOR_DELIVERY: 'your order is on its way 🛵',
    READY_FOR_PICKUP: 'your order is ready for pickup 🛍',
    COMPLETED: 'completed. Thank you! 🙏',
    REFUNDED: 'refunded.',
  } as Record<string, string>,
  finishCurrent: (orderNumber: string) => `You have an order in progress (${orderNumber}).`,
  activeOrderBusy: (orderNumber: string) => `Order ${orderNumber} is already placed. Type *menu* to start a new one.`,
  /** The payment step of an order (workflows/payment.ts). */
  payment: {
    approvePrompt: (method: string, amount: string) => `📲 Check your phone: approve the ${method} payment of ${amount} with your PIN.`,
    payLinkBody: (orderNumber: string, amount: string) => `Pay ${amount} for order ${orderNumber}.`,
    payNow: 'Pay now',
    otpPrompt: "We sent you an OTP by SMS from O'mari. Please type it here (or *cancel*).",
    wrongOtp: (left: number) => `That OTP is not right. ${left} ${left === 1 ? 'try' : 'tries'} left.`,
    appCodePrompt: (method: string, amount: string, code: string) => `📲 Open ${method} and pay ${amount} with this code: *${code}*`,
    flaggedText: (orderNumber: string, received: string, expected: string) =>
      `⚠️ We received a payment of ${received} for order ${orderNumber}, but the total is ${expected}. The shop will check it and contact you.`,
    bookingBalance: (reference: string, total: string, paid: string, balance: string) => `Booking ${reference}: total ${total}, paid ${paid}, balance ${balance}.`,
    tryAgain: 'Try again',
    otherMethod: 'Other method',
    receipt: (orderNumber: string, lines: string[], total: string, ref: string, method: string, lateNote: boolean) =>
      `🧾 *Receipt — order ${orderNumber}*\n${lines.join('\n')}\n*Total: ${total}*\nPaid by ${method}, reference ${ref}.${lateNote ? '\nYour payment arrived after the order had closed; the shop will contact you.' : '\nThank you!'}`,
    doublePaid: (orderNumber: string, amount: string, refunded: boolean) =>
      refunded
        ? `↩️ Order ${orderNumber} was already paid, so your second payment of ${amount} has been refunded to you.`
        : `⚠️ Order ${orderNumber} was already paid, and we received a second payment of ${amount}. The shop will refund it to you.`,
    refunded: (orderNumber: string, amount: string) => `↩️ ${amount} has been refunded for order ${orderNumber}.`,
    failures: EN_FAILURES,
    failureText: (reason: FailureReason) => `❌ ${EN_FAILURES[reason] ?? EN_FAILURES.declined} What would you like to do?`,
  },
  /** Paying against a booking (workflows/booking.ts). */
  booking: {
    askReference: 'Please send your booking reference (for example BK-DEMO-0001), or *cancel*.',
    notFound: (ref: string) => `We could not find a booking "${ref}".`,
    tryReference: 'Check the reference and send it again.',
    details: (ref: string, description: string, total: string, paid: string, balance: string) =>
      `📋 *Booking ${ref}*\n${description}\nTotal: ${total}\nPaid: ${paid}\n*Balance due: ${balance}*`,
    fullyPaid: 'This booking is fully paid. Thank you!',
    askAmount: (balance: string) => `How much would you like to pay? Send an amount up to ${balance} (for example 50 or 50.00).`,
    badAmount: (balance: string) => `Please send an amount above zero and at most ${balance}, like 50 or 50.00.`,
    paying: (amount: string, ref: string) => `Paying ${amount} towards booking ${ref}.`,
    askPhone: (method: string, ex: string) => `Which ${method} number should we charge? Send it like ${ex}, or *me* for this WhatsApp number.`,
    badPhone: (method: string, ex: string) => `That is not a valid ${method} number. Send it like ${ex}.`,
    notPlaced: (why: string) => `Sorry, the payment could not start: ${why}`,
  },
};

export type Texts = typeof en;

const sw: Texts = {
  ...en,
  greeting: (shop, name) => `Habari${name ? ` ${name}` : ''}! 👋 Karibu ${shop}. Ungependa kufanya nini?`,
  menuShop: 'Nunua',
  menuCart: 'Kikapu changu',
  menuBooking: 'Lipa booking',
  menuHelp: 'Msaada',
  menuLanguage: 'English',
  menuPromotions: 'Ona ofa',
  menuButton: 'Menyu',
  promotionsTitle: (shop) => `🏷️ *Ofa za ${shop}*`,
  promotionOff: (off) => (off.percent !== undefined ? `punguzo la ${off.percent}%` : `punguzo la ${off.amount} kila moja`),
  promotionUntil: (date) => `hadi ${date}`,
  noPromotions: 'Hakuna ofa kwa sasa.',
  discountLine: (title, amount) => `🏷️ ${title}: −${amount}`,
  help: (shop) =>
    `${shop} kwenye WhatsApp:\n• *menyu* – anza upya\n• *nunua* – angalia bidhaa\n• *kikapu* – kikapu chako\n• *lipia* – weka oda\n• *lipa* – lipa booking\n• *ghairi* – acha unachofanya\n• *language* – English`,
  languageSet: 'Lugha imewekwa Kiswahili.',
  categoriesBody: 'Chagua aina:',
  categoriesButton: 'Aina',
  catalogRow: 'Angalia katalogi',
  catalogBody: (shop) => `Angalia katalogi ya ${shop} kisha tutumie kikapu chako.`,
  productsBody: (category) => `${category}: chagua bidhaa.`,
  productsButton: 'Bidhaa',
  more: 'Zaidi…',
  back: 'Rudi',
  noProducts: 'Hakuna bidhaa hapa kwa sasa. Jaribu aina nyingine.',
  addToCart: 'Weka kikapuni',
  unavailable: (name) => `Samahani, ${name} haipatikani kwa sasa.`,
  askQuantity: (name, max) => `Ungependa *${name}* ngapi? Jibu kwa namba kuanzia 1 hadi ${max}.`,
  badQuantity: (max) => `Tafadhali jibu kwa namba kuanzia 1 hadi ${max}.`,
  tooManyTries: 'Tuanze upya.',
  outOfStock: (name, stock) => (stock > 0 ? `Zimebaki ${stock} tu za ${name}. Chagua ${stock} au chini.` : `Samahani, ${name} zimekwisha.`),
  pricesChanged: (total) => `Bei zimebadilika tangu uliziweka kwenye kikapu. Jumla mpya ni *${total}*. Tafadhali kagua na uthibitishe.`,
  placeRefused: (reason) => `${reason} Oda yako haijawekwa: badilisha kikapu, au ghairi.`,
  chooseSize: (name) => `Chagua ukubwa wa *${name}*:`,
  sizesButton: 'Ukubwa',
  chooseOne: (group) => `Chagua ${group.toLowerCase()}:`,
  chooseMany: (group, max, chosen) => `${group}: chagua hadi ${max}${chosen.length ? ` (umechagua: ${chosen.join(', ')})` : ''}. Gusa *Tayari* ukimaliza.`,
  optionsButton: 'Chaguo',
  done: 'Tayari',
  none: 'Hapana asante',
  breakdown: (lines, unit) => `${lines.join('\n')}\n*Kila moja: ${unit}*`,
  added: (qty, name, subtotal) => `Umeongeza ${qty} × ${name}. Jumla ndogo: ${subtotal}.`,
  cartEmpty: 'Kikapu chako kiko tupu.',
  cartTitle: 'Kikapu chako',
  cartView: (lines, subtotal, discounts = []) => `🛒 *Kikapu chako*\n${lines.join('\n')}\n\n${discounts.map((d) => `${d}\n`).join('')}Jumla ndogo: *${subtotal}*`,
  checkout: 'Lipia',
  addMore: 'Ongeza zaidi',
  clear: 'Futa kikapu',
  cleared: 'Kikapu chako sasa kiko tupu.',
  howToReceive: 'Ungependa kupokeaje oda yako?',
  delivery: 'Kuletewa',
  pickup: 'Kuchukua',
  askAddress: 'Tafadhali andika anwani yako, au tuma mahali ulipo 📍.',
  badAddress: 'Anwani ni fupi mno. Andika mtaa na eneo, au tuma mahali ulipo.',
  summary: (orderNumber, lines, totals, fulfilment) =>
    [
      `🧾 *Oda ${orderNumber}*`,
      ...lines,
      '',
      `Jumla ndogo: ${totals.subtotal}`,
      ...(totals.discounts ?? []),
      ...(totals.tax ? [`${totals.taxIncluded ? 'Pamoja na kodi' : 'Kodi'}: ${totals.tax}`] : []),
      ...(totals.delivery ? [`Usafirishaji: ${totals.delivery}`] : []),
      `*Jumla: ${totals.total}*`,
      fulfilment,
    ].join('\n'),
  deliverTo: (address) => `🚚 Kuletewa: ${address}`,
  pickupAt: (shop) => `🏪 Kuchukua ${shop}`,
  confirm: 'Thibitisha',
  editCart: 'Badili kikapu',
  cancel: 'Ghairi',
  choosePayment: 'Ungependa kulipa vipi?',
  paymentButton: 'Malipo',
  cashLabel: (fulfilment) => (fulfilment === 'pickup' ? 'Lipa ukichukua' : 'Lipa ukiletewa'),
  confirmed: (orderNumber, total, eta, fulfilment) =>
    `✅ Oda *${orderNumber}* imethibitishwa. Jumla ${total}, ${fulfilment === 'pickup' ? 'lipa ukichukua' : 'lipa ukiletewa'}.\nItakuwa ${fulfilment === 'pickup' ? 'tayari kuchukuliwa' : 'kwako'} baada ya dakika ${eta} hivi.`,
  cancelled: 'Imeghairiwa. Andika *menyu* wakati wowote kuanza upya.',
  orderCancelled: (orderNumber) => `Oda ${orderNumber} imeghairiwa.`,
  stepCancelled: 'Sawa, tumesimama. Andika *menyu* kuona machaguo.',
  reminder: (count, subtotal) => `Umeacha bidhaa ${count} kwenye kikapu (${subtotal}). Jibu *lipia* kumaliza oda yako.`,
  expired: (orderNumber) => `Kikapu ${orderNumber} kimeisha muda. Andika *menyu* kuanza oda mpya.`,
  notUnderstood: 'Samahani, sijaelewa. Andika *menyu* kuona machaguo au *msaada*.',
  media: 'Asante! Ninaweza kusoma maandishi na vitufe tu. Andika *menyu* kuona machaguo.',
  unknownItems: (items) => `Bidhaa hizi hazipatikani na hazikuwekwa: ${items.join(', ')}.`,
  catalogCartEmpty: 'Hakuna kati ya bidhaa hizo inayopatikana kwa sasa.',
  statusUpdate: (orderNumber, status) => `Oda ${orderNumber}: ${status}`,
  statusText: {
    PREPARING: 'tunaandaa oda yako 👩‍🍳',
    OUT_FOR_DELIVERY: 'oda yako iko njiani 🛵',
    READY_FOR_PICKUP: 'oda yako iko tayari kuchukuliwa 🛍',
    COMPLETED: 'imekamilika. Asante! 🙏',
    REFUNDED: 'pesa imerudishwa.',
  },
  finishCurrent: (orderNumber) => `Una oda inayoendelea (${orderNumber}).`,
  activeOrderBusy: (orderNumber) => `Oda ${orderNumber} imeshawekwa. Andika *menyu* kuanza mpya.`,
  payment: {
    approvePrompt: (method, amount) => `📲 Angalia simu yako: thibitisha malipo ya ${amount} kwa ${method} kwa PIN yako.`,
    payLinkBody: (orderNumber, amount) => `Lipa ${amount} kwa oda ${orderNumber}.`,
    payNow: 'Lipa sasa',
    otpPrompt: "Tumekutumia OTP kwa SMS kutoka O'mari. Tafadhali iandike hapa (au *ghairi*).",
    wrongOtp: (left) => `OTP si sahihi. Umebakiwa na majaribio ${left}.`,
    appCodePrompt: (method, amount, code) => `📲 Fungua ${method} ulipe ${amount} kwa msimbo huu: *${code}*`,
    flaggedText: (orderNumber, received, expected) =>
      `⚠️ Tumepokea malipo ya ${received} kwa oda ${orderNumber}, lakini jumla ni ${expected}. Duka litayakagua na kuwasiliana nawe.`,
    bookingBalance: (reference, total, paid, balance) => `Booking ${reference}: jumla ${total}, imelipwa ${paid}, salio ${balance}.`,
    tryAgain: 'Jaribu tena',
    otherMethod: 'Njia nyingine',
    receipt: (orderNumber, lines, total, ref, method, lateNote) =>
      `🧾 *Risiti — oda ${orderNumber}*\n${lines.join('\n')}\n*Jumla: ${total}*\nImelipwa kwa ${method}, kumbukumbu ${ref}.${lateNote ? '\nMalipo yako yamefika; duka litawasiliana nawe.' : '\nAsante!'}`,
    doublePaid: (orderNumber, amount, refunded) =>
      refunded
        ? `↩️ Oda ${orderNumber} ilikuwa imeshalipwa, kwa hivyo malipo yako ya pili ya ${amount} yamerudishwa kwako.`
        : `⚠️ Oda ${orderNumber} ilikuwa imeshalipwa, na tumepokea malipo ya pili ya ${amount}. Duka litakurudishia.`,
    refunded: (orderNumber, amount) => `↩️ ${amount} zimerudishwa kwa oda ${orderNumber}.`,
    failures: SW_FAILURES,
    failureText: (reason) => `❌ ${SW_FAILURES[reason] ?? SW_FAILURES.declined} Ungependa kufanya nini?`,
  },
  booking: {
    askReference: 'Tuma namba ya booking yako (mfano BK-DEMO-0001), au *ghairi*.',
    notFound: (ref) => `Hatukupata booking "${ref}".`,
    tryReference: 'Angalia namba na uitume tena.',
    details: (ref, description, total, paid, balance) => `📋 *Booking ${ref}*\n${description}\nJumla: ${total}\nImelipwa: ${paid}\n*Salio: ${balance}*`,
    fullyPaid: 'Booking hii imeshalipwa yote. Asante!',
    askAmount: (balance) => `Ungependa kulipa kiasi gani? Tuma kiasi hadi ${balance} (mfano 50 au 50.00).`,
    badAmount: (balance) => `Tuma kiasi kati ya 0.01 na ${balance}, mfano 50 au 50.00.`,
    paying: (amount, ref) => `Unalipa ${amount} kwa booking ${ref}.`,
    askPhone: (method, ex) => `Tutoze namba gani ya ${method}? Tuma namba kama ${ex}, au *hii* kwa namba hii ya WhatsApp.`,
    badPhone: (method, ex) => `Hiyo si namba sahihi ya ${method}. Tuma kama ${ex}.`,
    notPlaced: (why) => `Samahani, malipo hayakuanza: ${why}`,
  },
};

export const TEXTS: Record<Language, Texts> = { en, sw };

export function texts(language: Language): Texts {
  return TEXTS[language];
}

export const price = (amount: number, currency: Money['currency']) => formatMoney({ amount, currency });

/** Approved message templates (as data): used when the 24-hour customer-service window has closed. */
export const TEMPLATES = {
  cartReminder: { name: 'cart_reminder', languages: { en: 'en', sw: 'sw' } },
  cartExpired: { name: 'cart_expired', languages: { en: 'en', sw: 'sw' } },
  orderUpdate: { name: 'order_update', languages: { en: 'en', sw: 'sw' } },
  paymentReceived: { name: 'payment_received', languages: { en: 'en', sw: 'sw' } },
} as const;
export type TemplateKey = keyof typeof TEMPLATES;
