import { createHash } from 'node:crypto';

/**
 * Product pictures for the demo catalogue (`/sandbox/images/<productId>.svg`): drawn here from the product's name so
 * that nothing is fetched from the internet. A few shapes are recognised by keyword; anything else gets a parcel.
 */
function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const SHAPES: [RegExp, (fg: string, accent: string) => string][] = [
  [/pizza/i, (fg, accent) => `<circle cx="200" cy="150" r="92" fill="#e9b35f"/><circle cx="200" cy="150" r="78" fill="#d9542b"/><g fill="${accent}"><circle cx="170" cy="120" r="13"/><circle cx="228" cy="128" r="13"/><circle cx="196" cy="178" r="13"/><circle cx="240" cy="180" r="10"/><circle cx="156" cy="170" r="10"/></g><g fill="#f7e7a1"><circle cx="205" cy="108" r="7"/><circle cx="180" cy="150" r="7"/><circle cx="222" cy="156" r="7"/></g><path d="M200 150 L292 150" stroke="${fg}" stroke-width="3" opacity=".35"/>`],
  [/coffee|chai|tea/i, (fg, accent) => `<path d="M130 95 h120 l-12 120 a18 18 0 0 1 -18 16 h-60 a18 18 0 0 1 -18 -16 z" fill="${fg}"/><path d="M250 120 a28 28 0 0 1 0 56" fill="none" stroke="${fg}" stroke-width="12"/><rect x="140" y="108" width="100" height="14" fill="${accent}" opacity=".6"/><path d="M165 70 q10 -14 0 -28 M195 70 q10 -14 0 -28 M225 70 q10 -14 0 -28" stroke="${fg}" stroke-width="5" fill="none" opacity=".5"/>`],
  [/honey/i, (fg, accent) => `<rect x="140" y="90" width="120" height="140" rx="22" fill="${accent}"/><rect x="150" y="70" width="100" height="26" rx="6" fill="${fg}"/><path d="M140 150 h120" stroke="${fg}" stroke-width="6" opacity=".4"/><polygon points="200,140 222,152 222,176 200,188 178,176 178,152" fill="${fg}" opacity=".5"/>`],
  [/soap/i, (fg, accent) => `<rect x="120" y="110" width="160" height="90" rx="30" fill="${accent}"/><rect x="135" y="122" width="130" height="66" rx="22" fill="${fg}" opacity=".25"/><circle cx="265" cy="95" r="14" fill="none" stroke="${fg}" stroke-width="4"/><circle cx="290" cy="75" r="9" fill="none" stroke="${fg}" stroke-width="4"/>`],
  [/oil|bottle/i, (fg, accent) => `<rect x="178" y="55" width="44" height="30" rx="6" fill="${fg}"/><path d="M170 85 h60 l16 40 v100 a14 14 0 0 1 -14 14 h-64 a14 14 0 0 1 -14 -14 v-100 z" fill="${accent}"/><rect x="160" y="150" width="80" height="50" rx="8" fill="${fg}" opacity=".3"/>`],
  [/maize|meal|sugar|flour|rice/i, (fg, accent) => `<path d="M135 80 h130 l10 150 h-150 z" fill="${accent}"/><path d="M135 80 q65 -26 130 0" fill="${fg}" opacity=".5"/><rect x="155" y="130" width="90" height="50" rx="6" fill="${fg}" opacity=".35"/>`],
  [/samosa/i, (fg, accent) => `<polygon points="150,210 200,90 250,210" fill="${accent}"/><polygon points="215,215 262,110 300,215" fill="${accent}" opacity=".8"/><path d="M160 200 L200 110" stroke="${fg}" stroke-width="4" opacity=".4"/>`],
  [/vada|pav|burger|bun/i, (fg, accent) => `<path d="M120 150 a80 60 0 0 1 160 0 z" fill="${accent}"/><rect x="118" y="152" width="164" height="22" rx="10" fill="${fg}" opacity=".6"/><path d="M120 180 h160 a10 10 0 0 1 -10 26 h-140 a10 10 0 0 1 -10 -26" fill="${accent}"/>`],
  [/thali|plate|meal/i, (fg, accent) => `<circle cx="200" cy="150" r="95" fill="${fg}" opacity=".3"/><circle cx="200" cy="150" r="80" fill="#fff"/><g fill="${accent}"><circle cx="165" cy="120" r="20"/><circle cx="235" cy="120" r="20"/><circle cx="165" cy="180" r="20"/><circle cx="235" cy="180" r="20"/></g><circle cx="200" cy="150" r="18" fill="${fg}" opacity=".6"/>`],
  [/soap|dish|clean/i, (fg, accent) => `<rect x="160" y="80" width="80" height="150" rx="20" fill="${accent}"/><rect x="185" y="55" width="30" height="30" fill="${fg}"/>`],
];

const PARCEL = (fg: string, accent: string) =>
  `<rect x="125" y="85" width="150" height="130" rx="10" fill="${accent}"/><path d="M125 125 h150 M200 85 v130" stroke="${fg}" stroke-width="8" opacity=".45"/>`;

export function productSvg(productId: string, name: string): string {
  const hash = createHash('sha256').update(productId).digest();
  const hue = Math.round((hash[0]! / 255) * 360);
  const bg = `hsl(${hue} 55% 88%)`;
  const fg = `hsl(${hue} 45% 30%)`;
  const accent = `hsl(${(hue + 40) % 360} 70% 62%)`;
  const shape = SHAPES.find(([re]) => re.test(name))?.[1] ?? PARCEL;
  const label = name.length > 26 ? `${name.slice(0, 25)}…` : name;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300" viewBox="0 0 400 300" role="img" aria-label="${escapeXml(name)}">
<rect width="400" height="300" fill="${bg}"/>
${shape(fg, accent)}
<text x="200" y="278" text-anchor="middle" font-family="system-ui, sans-serif" font-size="22" font-weight="600" fill="${fg}">${escapeXml(label)}</text>
</svg>
`;
}
