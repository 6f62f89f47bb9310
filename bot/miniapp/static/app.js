// Steward's content calendar: a Telegram Mini App in plain ES modules (Preact + htm, vendored).
// Times are shown in the bot's TIMEZONE (as /queue shows them); the API gets wall-clock times
// without an offset, which the server reads in that zone with its DST checks.
import { h, render } from 'preact';
import { useState, useEffect, useCallback, useMemo, useRef } from 'preact/hooks';
import htm from 'htm';

performance.mark('app');
const html = htm.bind(h);
const tg = window.Telegram && window.Telegram.WebApp;
const LANGS = ['en', 'ru', 'nl'];

// initData: what Telegram's script parsed, or (outside Telegram, for development) the fragment.
const INIT = (tg && tg.initData) || new URLSearchParams(location.hash.slice(1)).get('tgWebAppData') || '';

function pickLanguage() {
  let code = tg && tg.initDataUnsafe && tg.initDataUnsafe.user && tg.initDataUnsafe.user.language_code;
  if (!code) {
    try { code = JSON.parse(new URLSearchParams(INIT).get('user')).language_code; } catch (e) { /* none */ }
  }
  code = String(code || navigator.language || 'en').slice(0, 2).toLowerCase();
  return LANGS.includes(code) ? code : 'en';
}
const LANG = pickLanguage();
let STRINGS = {};
// A string with forms 'one|other' (en, nl) or 'one|few|many' (ru) is counted by its {n}
const PLURAL = {
  en: (n) => (n === 1 ? 0 : 1),
  nl: (n) => (n === 1 ? 0 : 1),
  ru: (n) => (n % 10 === 1 && n % 100 !== 11 ? 0
    : n % 10 >= 2 && n % 10 <= 4 && (n % 100 < 12 || n % 100 > 14) ? 1 : 2),
};
const t = (key, vars) => {
  let s = STRINGS[key] || key;
  if (vars && typeof vars.n === 'number' && s.includes('|')) {
    const forms = s.split('|');
    s = forms[Math.min(PLURAL[LANG](Math.abs(vars.n)), forms.length - 1)];
  }
  for (const [k, v] of Object.entries(vars || {})) s = s.split(`{${k}}`).join(v);
  return s;
};

// --- Telegram glue --------------------------------------------------------------------------

// the API's error codes that have a toast of their own; any other says 'error' with its message
const ERROR_TOASTS = {
  stale: 'stale', past: 'past', too_far: 'too_far', gone: 'gone', cancelled: 'was_cancelled',
  delayed: 'delayed', blocked: 'blocked', not_found: 'not_found', network: 'network',
};
// what the server refused, in the manager's language (its own message is English)
function errorText(err) {
  const data = err.data || {};
  if (!err.code && err instanceof TypeError) return t('network'); // the first screen's own fetch
  if (err.code === 'bad_time' && ['nonexistent', 'ambiguous'].includes(data.reason)) return t(`time_${data.reason}`);
  if (err.code === 'failed') return t('refused', { error: (data.post && data.post.error) || err.message });
  return t(ERROR_TOASTS[err.code] || 'error', { error: err.message });
}
const haptic = {
  tap: () => tg && tg.HapticFeedback && tg.HapticFeedback.impactOccurred('light'),
  pick: () => tg && tg.HapticFeedback && tg.HapticFeedback.selectionChanged(),
  ok: () => tg && tg.HapticFeedback && tg.HapticFeedback.notificationOccurred('success'),
  warn: () => tg && tg.HapticFeedback && tg.HapticFeedback.notificationOccurred('warning'),
  err: () => tg && tg.HapticFeedback && tg.HapticFeedback.notificationOccurred('error'),
};

const THEME_VARS = {
  bg_color: '--bg', secondary_bg_color: '--bg2', text_color: '--text', hint_color: '--hint',
  link_color: '--link', button_color: '--button', button_text_color: '--button-text',
  destructive_text_color: '--danger', section_separator_color: '--sep', accent_text_color: '--accent',
};

function applyTheme() {
  const root = document.documentElement;
  const params = (tg && tg.themeParams) || {};
  for (const [key, name] of Object.entries(THEME_VARS)) {
    if (params[key]) root.style.setProperty(name, params[key]);
    else root.style.removeProperty(name);
  }
  const dark = tg ? tg.colorScheme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  root.dataset.scheme = dark ? 'dark' : 'light';
  if (tg && tg.setHeaderColor && params.bg_color) {
    try { tg.setHeaderColor(params.bg_color); } catch (e) { /* older clients */ }
  }
}

// --- API --------------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { Authorization: `tma ${INIT}` };
  if (body) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(`/api${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  } catch (e) { // no answer at all: the bot restarting, or the phone offline
    throw Object.assign(new Error(String(e && e.message)), { code: 'network' });
  }
  return answer(r);
}

async function answer(r) {
  let data = {};
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const err = new Error(data.error || r.statusText);
    Object.assign(err, { status: r.status, code: data.code, data });
    throw err;
  }
  return data;
}

// --- dates in the bot's zone: days are 'YYYY-MM-DD' strings ------------------------------------

let TZ = 'UTC';
let partsFormat = null; // Intl, only for times outside the spans the server described
let todayCache = { at: 0, day: '' };
let spans = []; // the zone's offsets from the API: [{ from, until, changes: [[utc ms, minutes]] }]
const offsets = new Map(); // Intl's answers per quarter hour (DST moves on those)
function setZone(zone) {
  if (zone === TZ) return;
  TZ = zone;
  todayCache = { at: 0, day: '' };
  partsFormat = null;
  spans = [];
  offsets.clear();
}
function learnOffsets(r) { // each API answer with times says how its days map to the wall clock
  if (r.timezone) setZone(r.timezone);
  const o = r.utc_offsets;
  if (o && o.changes && o.changes.length) spans.unshift({ from: o.changes[0][0], until: o.until, changes: o.changes });
  if (spans.length > 8) spans.length = 8;
}
function offsetAt(ms) {
  for (const span of spans) {
    if (ms >= span.from && ms < span.until) {
      let minutes = span.changes[0][1];
      for (const [at, m] of span.changes) { if (at <= ms) minutes = m; else break; }
      return minutes * 60000;
    }
  }
  // Building an Intl formatter loads ICU (over 100 ms on a slow phone): only off the first screen
  const bucket = Math.floor(ms / 900000);
  let offset = offsets.get(bucket);
  if (offset === undefined) {
    partsFormat = partsFormat || new Intl.DateTimeFormat('en-CA', {
      timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    });
    const p = {};
    for (const part of partsFormat.formatToParts(new Date(bucket * 900000))) p[part.type] = part.value;
    offset = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute) - bucket * 900000;
    offsets.set(bucket, offset);
  }
  return offset;
}
const pad = (n) => String(n).padStart(2, '0');
function local(iso) {
  const ms = new Date(iso).getTime();
  const d = new Date(ms + offsetAt(ms));
  return {
    day: `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
    time: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`,
  };
}
const utcOf = (day) => { const [y, m, d] = day.split('-').map(Number); return Date.UTC(y, m - 1, d); };
const addDays = (day, n) => new Date(utcOf(day) + n * 86400000).toISOString().slice(0, 10);
const weekday = (day) => (new Date(utcOf(day)).getUTCDay() + 6) % 7; // Monday = 0
const monthStart = (day) => `${day.slice(0, 7)}-01`;
const addMonths = (day, n) => {
  const d = new Date(utcOf(monthStart(day)));
  d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
};
// Day and month names come with the language's strings (as Intl would write them): no Intl, and
// so no ICU loading, before the first screen
function fmtDay(day, style) {
  const [y, m, d] = day.split('-').map(Number);
  const names = (key) => t(key).split(',');
  if (style === 'weekday') return names('weekdays')[weekday(day)];
  const month = names(style === 'month_year' ? 'months_long' : 'months')[m - 1];
  return t(style, { day: d, month, year: y, weekday: style === 'day_title' ? names('weekdays')[weekday(day)] : '' });
}
function today() {
  if (Date.now() - todayCache.at > 30000 || !todayCache.day) todayCache = { at: Date.now(), day: local(new Date().toISOString()).day };
  return todayCache.day;
}
function dayTitle(day) {
  const base = fmtDay(day, 'day_title');
  if (day === today()) return `${t('today')} · ${base}`;
  if (day === addDays(today(), 1)) return `${t('tomorrow')} · ${base}`;
  return base;
}
const when = (iso) => { const l = local(iso); return t('at_time', { day: fmtDay(l.day, 'day_month'), time: l.time }); };
const placed = (post) => post.published_at || post.due_at;
const isOpen = (post) => ['queued', 'failed', 'held'].includes(post.status);

// --- views ------------------------------------------------------------------------------------

const AGENDA_DAYS = 14; // the server's default range for /posts

function range(view, anchor) {
  if (view === 'agenda') return [today(), addDays(today(), AGENDA_DAYS)];
  if (view === 'week') { const start = addDays(anchor, -weekday(anchor)); return [start, addDays(start, 7)]; }
  const first = monthStart(anchor);
  const start = addDays(first, -weekday(first));
  return [start, addDays(start, 42)];
}

function byDay(data) {
  const days = {};
  const add = (day, entry) => { (days[day] = days[day] || []).push(entry); };
  for (const post of data.posts) { const l = local(placed(post)); add(l.day, { kind: 'post', time: l.time, post }); }
  for (const slot of data.empty_slots) { const l = local(slot.at); add(l.day, { kind: 'slot', time: l.time, slot }); }
  for (const list of Object.values(days)) list.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : (a.kind === 'slot') - (b.kind === 'slot')));
  return days;
}

function previewText(post) {
  const p = post.preview || {};
  const first = (p.text || '').split('\n')[0];
  const kind = p.kind && p.kind !== 'text' ? (p.kind === 'album' ? t('album', { n: p.count }) : t(p.kind)) : '';
  return [kind && `[${kind}]`, first].filter(Boolean).join(' ') || t('no_post_content');
}

// thumbnails, fetched with the sign-in, per post version: new content is a new picture (and a
// new address, so the browser's cache cannot answer with the old one)
const thumbs = new Map(); // 'id:version' -> object URL
function Thumb({ post }) {
  const key = `${post.id}:${post.version}`;
  const [, setGot] = useState(null); // a fetched thumbnail draws the item again
  useEffect(() => {
    if (!(post.preview && post.preview.thumb) || thumbs.has(key)) return;
    fetch(`/api/posts/${post.id}/thumb?v=${post.version}`, { headers: { Authorization: `tma ${INIT}` } })
      .then((r) => (r.ok ? r.blob() : null))
      .then((blob) => { if (blob) { const url = URL.createObjectURL(blob); thumbs.set(key, url); setGot(url); } })
      .catch(() => {});
  }, [key]);
  const src = thumbs.get(key);
  return src ? html`<img class="thumb" src=${src} alt="" />` : '';
}

function PostItem({ entry, channels, onOpen }) {
  const { post } = entry;
  const stats = post.status === 'published' && post.reactions != null
    ? [t('reactions', { n: post.reactions }), post.er != null ? t('er', { er: post.er }) : ''].filter(Boolean).join(' · ')
    : '';
  return html`<button class="item post" data-post=${post.id} onClick=${() => { haptic.tap(); onOpen(post); }}>
    <span class="time">${entry.time}</span>
    ${post.preview && post.preview.thumb && html`<${Thumb} post=${post} />`}
    <span class="body">
      <div class="ch">#${post.id} · ${channels[post.channel] || post.channel_title}</div>
      <div class="pv" elementtiming="post">${previewText(post)}</div>
      ${stats && html`<div class="st">${stats}</div>`}
    </span>
    <span class=${`badge ${post.status}`}>${t(post.status)}</span>
  </button>`;
}

function SlotItem({ entry, channels }) {
  return html`<div class="item slot" data-slot=${entry.slot.at}>
    <span class="time">${entry.time}</span>
    <span class="body"><div>${t('free_slot')} · ${channels[entry.slot.channel] || entry.slot.channel}</div>
    <div class="st">${t('free_slot_hint')}</div></span>
  </div>`;
}

function Day({ day, entries, channels, onOpen }) {
  return html`<section class="day" data-day=${day}>
    <h2>${dayTitle(day)}</h2>
    ${entries && entries.length
      ? html`<div class="list">${entries.map((e) => (e.kind === 'post'
        ? html`<${PostItem} key=${`p${e.post.id}`} entry=${e} channels=${channels} onOpen=${onOpen} />`
        : html`<${SlotItem} key=${`s${e.slot.channel}${e.slot.at}`} entry=${e} channels=${channels} />`))}</div>`
      : html`<div class="empty">${t('nothing_planned')}</div>`}
  </section>`;
}

function Cell({ day, days, selected, outside, label, onPick }) {
  const entries = days[day] || [];
  const posts = entries.filter((e) => e.kind === 'post').length;
  const free = entries.length - posts;
  return html`<button class=${`cell${outside ? ' out' : ''}${day === today() ? ' today' : ''}`}
      aria-selected=${String(day === selected)} data-cell=${day} onClick=${() => { haptic.pick(); onPick(day); }}>
    ${label && html`<small>${label}</small>`}
    <span>${Number(day.slice(8))}</span>
    <span class="dots">${posts ? html`<i class="dot"></i>` : ''}${posts > 1 ? html`<i class="dot"></i>` : ''}${free ? html`<i class="dot free"></i>` : ''}</span>
  </button>`;
}

const FIRST_SCREEN = 10; // entries a phone shows at once: the first frame renders only these

function Calendar({ view, anchor, setAnchor, days, channels, onOpen }) {
  const [whole, setWhole] = useState(false);
  useEffect(() => { // the first screen at once, everything below it right after it is painted
    if (view === 'agenda' && !whole) requestAnimationFrame(() => setTimeout(() => setWhole(true), 0));
  }, [view, whole]);
  if (view === 'agenda') {
    const list = [];
    let room = whole ? Infinity : FIRST_SCREEN;
    for (let i = 0; i < AGENDA_DAYS && room > 0; i += 1) {
      const day = addDays(today(), i);
      const entries = days[day] || [];
      list.push({ day, entries: entries.length > room ? entries.slice(0, room) : entries });
      room -= Math.max(entries.length, 1);
    }
    return html`<main>${list.map((d) => html`<${Day} key=${d.day} day=${d.day} entries=${d.entries} channels=${channels} onOpen=${onOpen} />`)}</main>`;
  }
  const [start] = range(view, anchor);
  const cells = [];
  const count = view === 'week' ? 7 : 42;
  for (let i = 0; i < count; i += 1) cells.push(addDays(start, i));
  const step = (n) => { haptic.pick(); setAnchor(view === 'week' ? addDays(anchor, 7 * n) : addMonths(anchor, n)); };
  const title = view === 'week'
    ? `${fmtDay(cells[0], 'day_month')} – ${fmtDay(cells[6], 'day_month')}`
    : fmtDay(monthStart(anchor), 'month_year');
  const names = cells.slice(0, 7).map((d) => fmtDay(d, 'weekday'));
  return html`<main>
    <div class="nav"><button aria-label="previous" onClick=${() => step(-1)}>‹</button><b>${title}</b><button aria-label="next" onClick=${() => step(1)}>›</button></div>
    ${view === 'week'
      ? html`<div class="strip">${cells.map((d, i) => html`<${Cell} key=${d} day=${d} days=${days} selected=${anchor} label=${names[i]} onPick=${setAnchor} />`)}</div>`
      : html`<div class="grid">${names.map((n) => html`<div class="wd">${n}</div>`)}
          ${cells.map((d) => html`<${Cell} key=${d} day=${d} days=${days} selected=${anchor} outside=${d.slice(0, 7) !== monthStart(anchor).slice(0, 7)} onPick=${setAnchor} />`)}</div>`}
    <${Day} day=${anchor} entries=${days[anchor]} channels=${channels} onOpen=${onOpen} />
  </main>`;
}

// --- the post sheet ---------------------------------------------------------------------------

function Options({ post }) {
  const o = post.options || {};
  const chips = [
    o.silent && `🔕 ${t('silent')}`, o.pin && `📌 ${t('pin')}`,
    o.delete_after_hours && `🗑 ${t('delete_after', { h: o.delete_after_hours })}`,
    o.buttons && `🔗 ${t('buttons', { n: o.buttons })}`, o.recurrence && `🔁 ${t('recurring', { r: o.recurrence })}`,
    post.reactions != null && `❤️ ${t('reactions', { n: post.reactions })}`,
    post.comments != null && `💬 ${t('comments', { n: post.comments })}`,
    post.er != null && `📈 ${t('er', { er: post.er })}`,
  ].filter(Boolean);
  return chips.length ? html`<div class="chips">${chips.map((c) => html`<span class="chip">${c}</span>`)}</div>` : '';
}

function MovePanel({ post, channel, busy, onMove }) {
  const start = local(post.due_at);
  const [date, setDate] = useState(start.day < today() ? today() : start.day);
  const [time, setTime] = useState(start.time);
  const [best, setBest] = useState([]);
  useEffect(() => {
    api('GET', `/best-times?channel=${post.channel}`).then((r) => setBest(r.best_times.filter((b) => b.next_at))).catch(() => setBest([]));
  }, [post.channel]);
  const choose = (iso) => { haptic.pick(); const l = local(iso); setDate(l.day); setTime(l.time); };
  const chosen = (iso) => { const l = local(iso); return l.day === date && l.time === time; };
  const free = (channel && channel.free_slots) || [];
  return html`<div class="move">
    <div class="label">${t('free_slots')}</div>
    ${free.length
      ? html`<div class="chips">${free.map((iso) => html`<button class="chip" data-free=${iso} aria-pressed=${String(chosen(iso))} onClick=${() => choose(iso)}>${when(iso)}</button>`)}</div>`
      : html`<div class="sub">${t('no_slots')}</div>`}
    ${best.length ? html`<div class="label">${t('best_times')}</div>
      <div class="chips">${best.map((b) => html`<button class="chip" data-best=${b.next_at} aria-pressed=${String(chosen(b.next_at))} onClick=${() => choose(b.next_at)}>⭐ ${when(b.next_at)} · ${b.er}%</button>`)}</div>` : ''}
    <div class="label">${t('pick')} (${t('tz_note', { tz: TZ })})</div>
    <div class="pick">
      <input type="date" aria-label=${t('date')} value=${date} min=${today()} onInput=${(e) => setDate(e.currentTarget.value)} />
      <input type="time" aria-label=${t('time')} value=${time} onInput=${(e) => setTime(e.currentTarget.value)} />
    </div>
    <div class="actions"><button class="btn primary" data-action="move-here" disabled=${busy || !date || !time} onClick=${() => onMove(`${date}T${time}`)}>${t('move_here')}</button></div>
  </div>`;
}

function Sheet({ post, channel, channels, onClose, act }) {
  const [mode, setMode] = useState('main');
  const [busy, setBusy] = useState(false);
  // one action at a time: a double tap lands before the disabled button is drawn, and its
  // second request would carry the version the first has just used (and come back 'stale')
  const running = useRef(false);
  const run = async (fn) => {
    if (running.current) return;
    running.current = true;
    setBusy(true);
    try { await fn(); } finally { running.current = false; setBusy(false); }
  };
  useEffect(() => {
    const back = tg && tg.BackButton;
    if (!back) return undefined;
    const handler = () => (mode === 'main' ? onClose() : setMode('main'));
    back.onClick(handler);
    back.show();
    return () => { back.offClick(handler); back.hide(); };
  }, [mode]);
  const open = isOpen(post);
  useEffect(() => { if (!open) setMode('main'); }, [open]); // published meanwhile: nothing to do
  const name = channels[post.channel] || post.channel_title;
  return html`<div class="shade" onClick=${(e) => { if (e.target === e.currentTarget) onClose(); }}>
    <div class="sheet" role="dialog" aria-label=${`#${post.id}`}>
      <div class="grip"></div>
      <h3>#${post.id} · ${name}</h3>
      <div class="sub">${when(placed(post))} · ${t(post.status)}${post.error ? ` · ${t('error_detail', { error: post.error })}` : ''}</div>
      ${mode === 'main' && html`<div>
        <div class="label">${t('preview')}</div>
        <div class="preview">${post.preview && post.preview.thumb && html`<${Thumb} post=${post} />`}${(post.preview && post.preview.text) || previewText(post)}</div>
        <${Options} post=${post} />
        <div class="actions">
          ${open && html`<button class="btn primary" data-action="move" onClick=${() => { haptic.tap(); setMode('move'); }}>🕒 ${t('move')}</button>`}
          ${open && html`<button class="btn" data-action="publish" onClick=${() => { haptic.tap(); setMode('publish'); }}>▶️ ${post.status === 'failed' ? t('retry') : t('publish_now')}</button>`}
          ${open && html`<button class="btn" data-action="edit" disabled=${busy} onClick=${() => run(() => act('edit', post))}>✏️ ${t('edit_in_chat')}</button>`}
          ${open && html`<button class="btn danger" data-action="cancel" onClick=${() => { haptic.warn(); setMode('cancel'); }}>✖️ ${t('cancel_post')}</button>`}
          <button class="btn" data-action="close" onClick=${onClose}>${t('close')}</button>
        </div>
      </div>`}
      ${mode === 'move' && html`<${MovePanel} post=${post} channel=${channel} busy=${busy} onMove=${(due) => run(() => act('move', post, due))} />
        <div class="actions"><button class="btn" onClick=${() => setMode('main')}>${t('back')}</button></div>`}
      ${mode === 'cancel' && html`<div>
        <p>${t('confirm_cancel', { id: post.id })}</p>
        <div class="actions">
          <button class="btn danger" data-action="confirm-cancel" disabled=${busy} onClick=${() => run(() => act('cancel', post))}>${t('yes_cancel')}</button>
          <button class="btn" onClick=${() => setMode('main')}>${t('keep')}</button>
        </div></div>`}
      ${mode === 'publish' && html`<div>
        <p>${t('confirm_publish', { id: post.id, channel: name })}</p>
        <div class="actions">
          <button class="btn primary" data-action="confirm-publish" disabled=${busy} onClick=${() => run(() => act('publish', post))}>${t('yes_publish')}</button>
          <button class="btn" onClick=${() => setMode('main')}>${t('keep')}</button>
        </div></div>`}
    </div>
  </div>`;
}

// --- the app ----------------------------------------------------------------------------------

function App() {
  const [ready, setReady] = useState(false);
  const [labels, setLabels] = useState(false); // the strings: the header can show before the data
  const [slow, setSlow] = useState(false); // no 'Loading' flash when the data comes quickly
  const [fatal, setFatal] = useState(null);
  const [channels, setChannels] = useState([]);
  const [view, setView] = useState('agenda');
  const [anchor, setAnchor] = useState(null); // the week's or month's day, set on switching
  const [filter, setFilter] = useState('');
  const [data, setData] = useState(null);
  const [sheet, setSheet] = useState(null);
  const [toast, setToast] = useState(null);

  const fail = useCallback((err) => {
    haptic.err();
    if (err.status === 401) setFatal(t(err.code === 'expired' ? 'expired' : 'sign_in'));
    else if (err.status === 403) setFatal(t('forbidden'));
    else setToast({ text: errorText(err) });
  }, []);

  const useChannels = (r) => { learnOffsets(r); setChannels(r.channels); };
  const loadChannels = () => api('GET', '/channels').then(useChannels);
  const load = useCallback(async () => {
    const [from, to] = range(view, anchor);
    const query = new URLSearchParams({ from: `${from}T00:00`, to: `${to}T00:00` });
    if (filter) query.set('channel', filter);
    try {
      const r = await api('GET', `/posts?${query}`);
      learnOffsets(r);
      setData(r);
    } catch (err) { fail(err); }
  }, [view, anchor, filter]);
  const [first, setFirst] = useState(true);

  useEffect(() => {
    // The header is laid out while the data is on its way: the first text layout also loads the
    // fonts, which would otherwise add its time after the data arrives.
    BOOT.strings.finally(() => setLabels(true));
    Promise.allSettled([BOOT.strings, BOOT.channels.then(useChannels), BOOT.agenda]).then(([, channelsLoaded, posts]) => {
      performance.mark('data');
      document.documentElement.lang = LANG;
      document.title = `Steward · ${t('title')}`;
      if (channelsLoaded.status === 'rejected') fail(channelsLoaded.reason);
      else if (posts.status === 'fulfilled') { learnOffsets(posts.value); setData(posts.value); }
      setReady(true);
    });
  }, []);
  useEffect(() => { const timer = setTimeout(() => setSlow(true), 400); return () => clearTimeout(timer); }, []);
  useEffect(() => {
    if (!ready || fatal) return;
    if (first) { setFirst(false); if (data) return; }
    load();
  }, [ready, load]);
  // The app stays open while the scheduler works: the view is read again just after its next
  // post is due (and while one is on its way out), and when Telegram shows the app again, so a
  // post published meanwhile shows as published, its sheet too, instead of offering a Move.
  useEffect(() => {
    if (!data) return undefined;
    const now = Date.now();
    let next = Infinity;
    for (const p of data.posts) {
      const due = new Date(p.due_at).getTime();
      if (p.status === 'publishing' || (p.status === 'queued' && due <= now && now - due < 120000)) next = Math.min(next, now + 5000);
      else if (p.status === 'queued' && due > now) next = Math.min(next, due + 2500);
    }
    if (next - now > 6 * 3600000) return undefined;
    const timer = setTimeout(() => load(), next - now);
    return () => clearTimeout(timer);
  }, [data, load]);
  useEffect(() => {
    const again = () => { if (document.visibilityState !== 'hidden') load(); };
    document.addEventListener('visibilitychange', again);
    if (tg && tg.onEvent) tg.onEvent('activated', again);
    return () => {
      document.removeEventListener('visibilitychange', again);
      if (tg && tg.offEvent) tg.offEvent('activated', again);
    };
  }, [load]);
  useEffect(() => { // an open sheet follows what the server says now
    if (!sheet || !data) return;
    const fresh = data.posts.find((p) => p.id === sheet.id);
    if (fresh && (fresh.version !== sheet.version || fresh.status !== sheet.status)) setSheet(fresh);
  }, [data]);
  useEffect(() => {
    if (!toast) return undefined;
    const timer = setTimeout(() => setToast(null), toast.undo ? 6000 : 3500);
    return () => clearTimeout(timer);
  }, [toast]);
  useEffect(() => {
    if (data && !window.__firstRender) {
      window.__firstRender = performance.now();
      document.body.dataset.ready = 'yes';
    }
  }, [data]);

  const act = async (what, post, due) => {
    try {
      if (what === 'move') {
        const moved = await api('PATCH', `/posts/${post.id}`, { due_at: due, version: post.version });
        haptic.ok();
        setToast({ text: t('moved', { id: post.id, when: when(moved.due_at) }) });
      } else if (what === 'publish') {
        await api('POST', `/posts/${post.id}/publish?version=${post.version}`);
        haptic.ok();
        setToast({ text: t('published_ok', { id: post.id }) });
      } else if (what === 'cancel') {
        const cancelled = await api('DELETE', `/posts/${post.id}?version=${post.version}`);
        haptic.ok();
        const back = new Date(post.due_at) > new Date(Date.now() + 60000) ? { id: post.id, due: post.due_at, version: cancelled.version } : null;
        setToast({ text: t('cancelled_ok', { id: post.id }), undo: back });
      } else if (what === 'edit') {
        await api('POST', `/posts/${post.id}/edit`);
        haptic.ok();
        setToast({ text: t('sent_to_chat') });
        if (tg && tg.close) setTimeout(() => tg.close(), 1200);
      }
      setSheet(null);
    } catch (err) {
      fail(err);
      if (['stale', 'gone', 'cancelled', 'delayed'].includes(err.code)) setSheet(null);
    }
    await Promise.all([load(), loadChannels().catch(() => {})]);
  };

  const undoing = useRef(false);
  const undo = async (back) => {
    if (undoing.current) return; // a double tap: one undo
    undoing.current = true;
    setToast(null);
    try {
      await api('PATCH', `/posts/${back.id}`, { due_at: back.due, version: back.version });
      haptic.ok();
      setToast({ text: t('restored', { id: back.id }) });
    } catch (err) { fail(err); }
    undoing.current = false;
    await load();
  };

  const days = useMemo(() => (data ? byDay(data) : {}), [data]);
  if (fatal) return html`<div class="note" data-fatal="yes">${fatal}</div>`;
  if (!labels) return html`<div class="boot" aria-busy="true"><header><div class="bar"><h1>📅</h1></div><div class="tabs"></div></header></div>`;
  const names = Object.fromEntries(channels.map((c) => [c.id, c.title]));
  // the times are TIMEZONE's, as in /queue: said so when the phone's clock is in another zone
  const away = data && -new Date().getTimezoneOffset() * 60000 !== offsetAt(Date.now());
  const pickView = (v) => { haptic.pick(); setView(v); if (v !== 'agenda') setAnchor(today()); };
  return html`<div>
    <header>
      <div class="bar">
        <h1>📅 ${t('title')}</h1>
        <select class="filter" aria-label=${t('all_channels')} disabled=${!ready} value=${filter} onChange=${(e) => { haptic.pick(); setFilter(e.currentTarget.value); }}>
          <option value="">${t('all_channels')}</option>
          ${channels.map((c) => html`<option value=${String(c.id)}>${c.title}</option>`)}
        </select>
      </div>
      <div class="tabs" role="tablist">
        ${['agenda', 'week', 'month'].map((v) => html`<button role="tab" data-view=${v} disabled=${!ready} aria-pressed=${String(view === v)} onClick=${() => pickView(v)}>${t(v)}</button>`)}
      </div>
      ${away && html`<div class="tz">${t('tz_note', { tz: TZ })}</div>`}
    </header>
    ${data ? html`<${Calendar} view=${view} anchor=${anchor} setAnchor=${setAnchor} days=${days} channels=${names} onOpen=${setSheet} />`
      : slow && html`<div class="note" aria-busy="true">${t('loading')}</div>`}
    ${sheet && html`<${Sheet} key=${sheet.id} post=${sheet} channel=${channels.find((c) => c.id === sheet.channel)} channels=${names} onClose=${() => setSheet(null)} act=${act} />`}
    ${toast && html`<div class="toast" role="status"><span>${toast.text}</span>${toast.undo && html`<button data-action="undo" onClick=${() => undo(toast.undo)}>${t('undo')}</button>`}</div>`}
  </div>`;
}

// Everything the first screen needs is asked for at once, before the first render; the
// server's default range for /posts is the agenda.
const early = window.__boot && window.__boot.lang === LANG ? window.__boot : null; // see index.html
const BOOT = {
  strings: (early ? early.strings : fetch(`static/i18n/${LANG}.json${new URL(import.meta.url).search}`)).then((r) => r.json()).then((s) => { STRINGS = s; }),
  channels: early ? early.channels.then(answer) : api('GET', '/channels'),
  agenda: early ? early.agenda.then(answer) : api('GET', '/posts'),
};
BOOT.channels.catch(() => {});
BOOT.agenda.catch(() => {});

applyTheme();
if (tg) {
  tg.onEvent('themeChanged', applyTheme);
  tg.ready();
  tg.expand();
}
render(html`<${App} />`, document.getElementById('app'));
