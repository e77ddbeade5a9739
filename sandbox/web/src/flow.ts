import { api, clear, h } from './dom.ts';
import type { Json } from './types.ts';

/**
 * A WhatsApp Flow as the customer's phone shows it, rendered from the Flow JSON duka deployed (flows/*.json, read back
 * from the Graph stand-in): screens with text, an image, radio buttons, check boxes, dropdowns, text inputs and the
 * footer. Endpoint screens talk to duka's real data endpoint through the sandbox server, which encrypts and signs
 * like Meta's client (sandbox/flow-client.ts); a finished Flow becomes the customer's `nfm_reply`.
 */
export interface FlowHost {
  phoneNumberId: string;
  from: string;
  /** The flow message's wamid, quoted by the reply. */
  contextId: string;
  /** Shows the Flow's panel in the page's sheet; returns the element to fill. */
  open(title: string): HTMLElement;
  close(): void;
  toast(text: string): void;
}

type Screen = Json & { id: string; title?: string; terminal?: boolean; layout: { children: Json[] } };

const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');

/** `${data.x}` / `${form.x}` as a whole value keeps its type (arrays, booleans); inside text it is interpolated. */
function resolve(value: unknown, data: Json, form: Json): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{(data|form)\.(\w+)\}$/.exec(value);
    if (whole) return (whole[1] === 'data' ? data : form)[whole[2]!];
    return value.replace(/\$\{(data|form)\.(\w+)\}/g, (_m, scope: string, key: string) => str((scope === 'data' ? data : form)[key]));
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, data, form));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, data, form)]));
  return value;
}

const visible = (c: Json, data: Json, form: Json) => c.visible === undefined || resolve(c.visible, data, form) === true || resolve(c.visible, data, form) === 'true';
const options = (c: Json, data: Json, form: Json) => (resolve(c['data-source'], data, form) as Json[] | undefined) ?? [];

export async function openFlow(host: FlowHost, parameters: Json): Promise<void> {
  const flowId = str(parameters.flow_id);
  const token = str(parameters.flow_token);
  let flowJson: Json & { screens: Screen[] };
  try {
    flowJson = (await api<{ flowJson: Json & { screens: Screen[] } }>(`/sandbox/api/flows/${encodeURIComponent(flowId)}`)).flowJson;
  } catch (err) {
    return host.toast(`The Flow did not open: ${(err as Error).message}`);
  }

  async function exchange(payload: Json): Promise<Json | null> {
    const r = await api<{ status: number; answer: Json | null; body?: string }>('/sandbox/api/flows/exchange', { json: { phoneNumberId: host.phoneNumberId, payload: { ...payload, flow_token: token } } });
    if (r.status === 427) {
      host.toast(str(obj(r.answer).error_msg) || 'This Flow is no longer available');
      host.close();
      return null;
    }
    if (r.status !== 200 || !r.answer) {
      host.toast(`duka's Flows endpoint answered ${r.status}${r.body ? `: ${r.body}` : ''}`);
      return null;
    }
    return r.answer;
  }

  async function complete(params: Json): Promise<void> {
    host.close();
    await api('/sandbox/api/flows/complete', { json: { phoneNumberId: host.phoneNumberId, from: host.from, contextId: host.contextId, response: { ...params, flow_token: token } } });
  }

  /** An endpoint answer: the next screen with its data, or the end of the Flow. */
  async function follow(answer: Json | null): Promise<void> {
    if (!answer) return;
    const screen = str(answer.screen);
    const data = obj(answer.data);
    if (screen === 'SUCCESS') return complete(obj(obj(data.extension_message_response).params));
    show(screen, data);
    if (data.error_message) host.toast(str(data.error_message));
  }

  function show(screenId: string, data: Json): void {
    const screen = flowJson.screens.find((s) => s.id === screenId);
    if (!screen) return host.toast(`The Flow has no screen ${screenId}`);
    const panel = host.open(str(screen.title) || 'Flow');
    const body = h('div', { class: 'flow-screen', 'data-flow-screen': screen.id });
    const form: Json = {};
    const rerender: (() => void)[] = [];
    for (const c of screen.layout.children) {
      const type = str(c.type);
      const name = str(c.name);
      const wrap = h('div', { class: `flow-${type}` });
      const refresh = () => (wrap.hidden = !visible(c, data, form));
      rerender.push(refresh);
      const label = str(resolve(c.label, data, form));
      if (type === 'TextHeading' || type === 'TextSubheading') wrap.append(h(type === 'TextHeading' ? 'h3' : 'h4', {}, str(resolve(c.text, data, form))));
      else if (type === 'TextBody' || type === 'TextCaption') wrap.append(h('p', { class: type === 'TextCaption' ? 'muted' : '', style: 'white-space: pre-line' }, str(resolve(c.text, data, form))));
      else if (type === 'Image') {
        const src = str(resolve(c.src, data, form));
        if (src) wrap.append(h('img', { src: `data:image/png;base64,${src}`, alt: str(resolve(c['alt-text'], data, form)), style: `max-height:${Number(c.height) || 160}px;max-width:100%` }));
      } else if (type === 'RadioButtonsGroup' || type === 'CheckboxGroup') {
        const multi = type === 'CheckboxGroup';
        const init = resolve(c['init-value'], data, form);
        form[name] = multi ? (Array.isArray(init) ? init : []) : (str(init) || undefined);
        wrap.append(h('div', { class: 'section-title' }, label));
        for (const o of options(c, data, form)) {
          const id = str(o.id);
          const checked = multi ? (form[name] as string[]).includes(id) : form[name] === id;
          const input = h('input', {
            type: multi ? 'checkbox' : 'radio',
            name: `flow-${name}`,
            value: id,
            checked,
            onchange: (e: Event) => {
              const on = (e.target as HTMLInputElement).checked;
              form[name] = multi ? (on ? [...(form[name] as string[]), id] : (form[name] as string[]).filter((x) => x !== id)) : id;
            },
          });
          wrap.append(h('label', { class: 'list-row', 'data-option-id': id }, h('span', {}, h('span', { class: 'row-title' }, str(o.title)), o.description ? h('span', { class: 'row-desc' }, str(o.description)) : null), input));
        }
      } else if (type === 'Dropdown') {
        const init = str(resolve(c['init-value'], data, form));
        form[name] = init || undefined;
        const select = h('select', { name: `flow-${name}`, onchange: (e: Event) => (form[name] = (e.target as HTMLSelectElement).value) }, h('option', { value: '', disabled: true, selected: !init }, label));
        for (const o of options(c, data, form)) select.append(h('option', { value: str(o.id), selected: str(o.id) === init }, str(o.title)));
        wrap.append(h('label', {}, h('div', { class: 'section-title' }, label), select));
      } else if (type === 'TextInput' || type === 'TextArea') {
        const input = h(type === 'TextArea' ? 'textarea' : 'input', {
          name: `flow-${name}`,
          type: { phone: 'tel', email: 'email', number: 'number', password: 'password' }[str(c['input-type'])] ?? 'text',
          placeholder: str(resolve(c['helper-text'], data, form)),
          oninput: (e: Event) => (form[name] = (e.target as HTMLInputElement).value),
        });
        wrap.append(h('label', {}, h('div', { class: 'section-title' }, label), input));
      } else if (type === 'Footer') {
        const left = str(resolve(c['left-caption'], data, form));
        const right = str(resolve(c['right-caption'], data, form));
        const button = h('button', { type: 'button', class: 'primary', 'data-flow-footer': '1' }, label);
        button.addEventListener('click', () => void submit(screen, c, data, form, button));
        wrap.append(h('div', { class: 'sheet-foot' }, left || right ? h('span', {}, `${left} ${right}`.trim()) : null, button));
      } else {
        wrap.append(h('i', {}, `(${type} is not rendered by the sandbox)`));
      }
      body.append(wrap);
    }
    rerender.forEach((r) => r());
    clear(panel);
    panel.append(body);
  }

  /** The footer's action: required inputs checked first, as the WhatsApp client does. */
  async function submit(screen: Screen, footer: Json, data: Json, form: Json, button: HTMLButtonElement): Promise<void> {
    for (const c of screen.layout.children) {
      const name = str(c.name);
      const required = resolve(c.required, data, form);
      const empty = form[name] === undefined || form[name] === '' || (Array.isArray(form[name]) && (form[name] as unknown[]).length === 0);
      if (name && visible(c, data, form) && (required === true || required === 'true') && empty) return host.toast(`${str(resolve(c.label, data, form))} is required`);
    }
    const action = obj(footer['on-click-action']);
    const payload = obj(resolve(action.payload ?? {}, data, Object.fromEntries(Object.entries(form).map(([k, v]) => [k, v ?? '']))));
    button.disabled = true;
    try {
      if (action.name === 'data_exchange') await follow(await exchange({ action: 'data_exchange', screen: screen.id, data: payload }));
      else if (action.name === 'navigate') show(str(obj(action.next).name), payload);
      else if (action.name === 'complete') await complete(payload);
    } catch (err) {
      host.toast(`The Flow failed: ${(err as Error).message}`);
    } finally {
      button.disabled = false;
    }
  }

  const entry = obj(parameters.flow_action_payload);
  if (str(parameters.flow_action) === 'navigate') show(str(entry.screen) || flowJson.screens[0]!.id, obj(entry.data));
  else await follow(await exchange({ action: 'INIT' }));
}
