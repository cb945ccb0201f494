import { deviceKindLabel } from '@telecare/contracts/device-kinds';
import { ApiError, act, api, SCAN_TIMEOUT_MS } from './api.ts';
import { callsPanel, loadCalls, wireCalls } from './calls.ts';
import { serverNow } from './clock.ts';
import { $, esc, input, maybe, notice, select } from './dom.ts';
import { eventText } from './events.ts';
import { factsPanel, wireFacts } from './facts.ts';
import {
  agoText,
  callBackText,
  deviceText,
  goneText,
  pressedText,
  sourceText,
  stateLabel,
  timeText,
  typeLabel,
} from './format.ts';
import { renderQueue } from './queue.ts';
import { canWork, nameOf, state } from './state.ts';
import type {
  Because,
  CaseAlertsView,
  CaseContext,
  CaseDetail,
  CaseEvent,
  CaseJoinsView,
  CaseNotesView,
  CaseSummary,
  DeviceEvents,
  Health,
  Me,
} from './types.ts';
import { isOpen } from './types.ts';

/** The outcomes a case may be resolved with: the helpline's own list, put in when it bundles the console. */
declare const OUTCOMES: readonly string[];

const ALARM_TYPES = /^(pendant|pullcord|fall|smoke|heat|co|gas|epilepsy|flood|bogus-caller)\./;

function healthCells(h: Health | null): string {
  if (!h) return '<td colspan="3" class="meta">no health from the registry</td>';
  const battery = h.batteryPercent == null ? '–' : `${h.batteryPercent}%`;
  const low = h.batteryPercent != null && h.batteryPercent < 20;
  const mains = h.mains === true ? 'mains on' : h.mains === false ? 'MAINS OFF' : 'mains –';
  return (
    `<td class="battery${low ? ' bad' : ''}" title="battery">${battery}${low ? ' (low)' : ''}</td>` +
    `<td class="mains${h.mains === false ? ' bad' : ''}">${mains}</td>` +
    `<td class="heartbeat${h.overdue ? ' bad' : ''}" title="last heartbeat ${esc(h.lastHeartbeatAt ?? 'never')}">heartbeat ${esc(agoText(h.lastHeartbeatAt))}${h.overdue ? ' — overdue' : ''}</td>`
  );
}

/** Whether the device events are unfolded: the operator's choice holds from case to case. */
let deviceEventsOpen = true;

function deviceEventsPanel(tl: DeviceEvents | null): string {
  if (!tl) return '';
  const list = [...tl.events].reverse();
  const heartbeats = list.filter((e) => e.type === 'heartbeat').length;
  const shown = list.slice(0, 60);
  return `<section class="panel"><details id="device-events"${deviceEventsOpen ? ' open' : ''}>
    <summary>Device events, last 24 hours <span class="meta">${list.length} ${list.length === 1 ? 'event' : 'events'}${heartbeats ? ` (${heartbeats} ${heartbeats === 1 ? 'heartbeat' : 'heartbeats'})` : ''}</span></summary>
    ${tl.message ? `<p class="late">${esc(tl.message)}</p>` : ''}
    ${shown.length ? `<table class="timeline"><caption class="visually-hidden">Device events, newest first</caption>${shown.map((e) => `<tr data-type="${esc(e.type)}" class="${ALARM_TYPES.test(e.type) ? 'alarm' : e.type === 'heartbeat' ? 'quiet' : ''}"><td>${esc(timeText(e.at))}</td><td>${esc(e.type)}${e.testMode ? ' (test)' : ''}${ALARM_TYPES.test(e.type) ? ' <span class="visually-hidden">(alarm)</span>' : ''}</td><td>${esc(deviceText({ deviceKind: e.deviceKind, deviceSerial: e.serial }))}${e.location ? ` · ${esc(e.location)}` : ''}</td></tr>`).join('')}</table>${list.length > shown.length ? `<p class="meta">and ${list.length - shown.length} earlier</p>` : ''}` : '<p class="meta">No device events in the last 24 hours.</p>'}
  </details></section>`;
}

/** Where the alert came from, before its reason: the device by kind and serial, or the home or area. */
function becauseSource(b: Because): string {
  const district = b.thresholds.district;
  const source = sourceText(b, typeof district === 'string' ? district : undefined);
  return source ? `<span class="source">${esc(source)}</span> — ` : '';
}

const becauseItem = (b: Because): string =>
  `<li data-alert="${esc(b.alertId)}"><span class="rule">P${b.priority} ${esc(timeText(b.raisedAt))}</span> ${becauseSource(b)}${esc(b.reason)} <span class="rule">${esc(b.rule.id)} v${b.rule.version}</span>${b.late ? ' <span class="late">late</span>' : ''}</li>`;

/**
 * Every alert of the case on screen, newest first, once the operator asked for them (the case
 * view and the stream carry a window: the first, the most urgent, the latest).
 */
let allAlerts: { caseId: string; alerts: Because[]; total: number } | null = null;

function whyPanel(c: CaseDetail): string {
  const count = c.alertCount;
  const all = allAlerts?.caseId === c.id && allAlerts.total === count ? allAlerts : null;
  if (all)
    return `<p class="meta" id="alert-count">All ${count} alerts, newest first</p><ul class="because" id="all-alerts">${all.alerts.map(becauseItem).join('')}</ul>`;
  const more = count - c.because.length;
  return `<ul class="because">${c.because.map(becauseItem).join('')}</ul>${
    more > 0
      ? `<p class="meta" id="alert-count">${c.because.length} of ${count} alerts: the first, the most urgent and the latest. <button type="button" id="show-alerts">Show all ${count}</button></p>`
      : ''
  }`;
}

/** Reads every alert of the case, a page at a time, and shows them. */
async function showAllAlerts(id: string): Promise<void> {
  const alerts: Because[] = [];
  let total = 0;
  let before: number | null | undefined;
  do {
    const page = await api<CaseAlertsView>(
      `/api/cases/${id}/alerts?limit=500${before ? `&before=${before}` : ''}`,
    );
    alerts.push(...page.alerts);
    total = page.total;
    before = page.next;
  } while (before);
  allAlerts = { caseId: id, alerts, total };
  if (state.selected === id) renderDetail();
}

/**
 * The older `alert-joined` steps of the case on screen, once the operator asked for them (the case
 * view carries every other step and the latest joins, with the count of those left out).
 */
let allJoins: { caseId: string; events: CaseEvent[]; total: number } | null = null;

const joinsIn = (c: CaseDetail) => c.events.filter((e) => e.kind === 'alert-joined').length;

/**
 * The notes of the case on screen older than those its view carries (the newest CASE_VIEW_NOTES),
 * read a page at a time as the operator asks, by id; `next` is where the next older page starts.
 * Once some are read, every note the view shows is kept here too: a note written later pushes the
 * oldest of the view's out of it, and it stays on screen between the pages read and the view.
 */
let olderNotes: { caseId: string; notes: Map<string, CaseEvent>; next: string | null } | null = null;

/** How many older notes one press of "Show older notes" reads. */
const NOTES_PAGE = 100;

const notesIn = (c: CaseDetail) => c.events.filter((e) => e.kind === 'note').length;

/** The steps of the view with the older joins and notes read so far, ordered by time. */
function stepsShown(c: CaseDetail, joins: CaseEvent[] | null, notes: Map<string, CaseEvent> | null) {
  if (!joins && !notes) return c.events;
  const inView = new Set(c.events.map((e) => e.id));
  const extra = [...(joins ?? []), ...(notes?.values() ?? [])].filter((e) => !inView.has(e.id));
  // The older steps come before the view's: ordered by time, each list keeping its own order.
  return [...extra, ...c.events].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

function timelinePanel(c: CaseDetail): string {
  const total = c.joinsLeftOut + joinsIn(c);
  const all = allJoins?.caseId === c.id && allJoins.total === total ? allJoins : null;
  const older = olderNotes?.caseId === c.id ? olderNotes : null;
  if (older) for (const e of c.events) if (e.kind === 'note') older.notes.set(e.id, e);
  const events = stepsShown(c, all?.events ?? null, older?.notes ?? null);
  const notesNotShown = c.notesLeftOut + notesIn(c) - (older ? older.notes.size : notesIn(c));
  const row = (e: CaseEvent) =>
    `<tr data-kind="${esc(e.kind)}"><td>${new Date(e.at).toLocaleTimeString()}</td><td>${esc(nameOf(e.actor))}</td><td>${esc(eventText(e))}</td></tr>`;
  return `${
    c.joinsLeftOut > 0 && !all
      ? `<p class="meta" id="joins-left-out">${c.joinsLeftOut} earlier ${c.joinsLeftOut === 1 ? 'alert' : 'alerts'} joined the case, not shown. <button type="button" id="show-joins">Show them</button></p>`
      : ''
  }${
    notesNotShown > 0 && (older ? older.next : c.olderNotes)
      ? `<p class="meta" id="notes-left-out">${notesNotShown} older ${notesNotShown === 1 ? 'note' : 'notes'}, not shown. <button type="button" id="show-older-notes">Show older notes</button></p>`
      : ''
  }<table class="timeline" id="timeline"><caption class="visually-hidden">Audit trail</caption>${events.map(row).join('')}</table>`;
}

/** Reads the next page of the case's older notes (from the view's cursor the first time) and shows them. */
async function showOlderNotes(c: CaseDetail): Promise<void> {
  const kept = olderNotes?.caseId === c.id ? olderNotes : null;
  const before = kept ? kept.next : c.olderNotes;
  if (!before) return;
  const page = await api<CaseNotesView>(
    `/api/cases/${c.id}/notes?limit=${NOTES_PAGE}&before=${encodeURIComponent(before)}`,
  );
  const notes = kept?.notes ?? new Map(c.events.filter((e) => e.kind === 'note').map((e) => [e.id, e]));
  for (const e of page.events) notes.set(e.id, e);
  olderNotes = { caseId: c.id, notes, next: page.next };
  if (state.selected === c.id) renderDetail();
}

/** Reads every `alert-joined` step of the case, a page at a time, and shows them in the trail. */
async function showAllJoins(id: string): Promise<void> {
  const events: CaseEvent[] = [];
  let total = 0;
  let before: string | null | undefined;
  do {
    const page = await api<CaseJoinsView>(
      `/api/cases/${id}/joins?limit=500${before ? `&before=${encodeURIComponent(before)}` : ''}`,
    );
    events.push(...page.events);
    total = page.total;
    before = page.next;
  } while (before);
  allJoins = { caseId: id, events: events.reverse(), total };
  if (state.selected === id) renderDetail();
}

function renderDetail(): void {
  const c = state.detail;
  if (!c) return;
  const { me, context } = state;
  const el = $('detail');
  el.className = `column p${c.priority}`;
  const mine = c.assignedTo === me?.id || me?.role === 'supervisor' || me?.role === 'admin';
  const calls = c.events.filter((e) => e.kind === 'responder-called');
  const resultOf = (rid: string) =>
    calls
      .filter((e) => e.data.responderId === rid)
      .map((e) => String(e.data.result))
      .join(', ');
  const r = context?.resident;
  // Until the registry answers, the name the queue already has for the resident.
  const who = r?.name ?? state.residentNames.get(c.residentId);
  const open = isOpen(c.state);
  const pressed = pressedText(c);
  // A revealed value is shown only through a case the viewer may reveal it on: open, and held by
  // them (a supervisor or admin: any open case). Reassigned, resolved or handed back, it is
  // forgotten here, not left on the screen of someone who no longer has the case.
  const mayReveal =
    open &&
    (me?.role === 'supervisor' ||
      me?.role === 'admin' ||
      (c.assignedTo === me?.id && (c.state === 'accepted' || c.state === 'on_hold')));
  if (!mayReveal) for (const field of ['keySafe', 'medical']) state.revealed.delete(`${c.id}:${field}`);
  const revealed = (field: string) => state.revealed.get(`${c.id}:${field}`);
  const canResolve = open && mine && c.state !== 'queued' && c.state !== 'offered';
  const kept = el.dataset.caseId === c.id ? keepForm(el) : undefined;
  el.dataset.caseId = c.id;
  el.innerHTML = `
  <section class="panel actions" aria-label="Case and actions">
    <h2 class="title">P${c.priority} ${esc(typeLabel(c.type))}${who ? ` — <span class="who">${esc(who)}</span>` : ''} <span class="state ${esc(c.state)}">${esc(stateLabel(c.state))}</span></h2>
    ${pressed ? `<div class="pressed" id="presses">${esc(pressed)}</div>` : ''}
    ${c.operatorGone ? `<div class="gone" id="operator-gone" role="status">${esc(goneText(c, nameOf))}${me?.role === 'supervisor' || me?.role === 'admin' ? ': reassign it' : ': tell your supervisor'}</div>` : ''}
    <div class="meta">${esc(c.id)} · resident ${esc(c.residentId)} · raised ${new Date(c.raisedAt).toLocaleTimeString()}${c.acceptedAt ? ` · answered in ${Math.round((Date.parse(c.acceptedAt) - Date.parse(c.raisedAt)) / 1000)} s` : ''}${c.requeuedAt && (c.state === 'queued' || c.state === 'offered') ? ` · back in the queue since ${new Date(c.requeuedAt).toLocaleTimeString()}` : ''}${c.priorityRaisedAt ? ` · P${c.priority} since ${new Date(c.priorityRaisedAt).toLocaleTimeString()}` : ''}${c.assignedTo ? ` · with ${esc(nameOf(c.assignedTo))}` : ''}</div>
    ${c.state === 'on_hold' && c.hold ? `<div class="callback" id="call-back">${esc(callBackText(c))} (${esc(new Date(c.hold.until).toLocaleTimeString())}): ${esc(c.hold.reason ?? '')}</div>` : ''}
    <div class="row">
      ${open && c.state !== 'accepted' && canWork() ? `<button class="primary" data-act="accept" id="accept">Accept${c.offeredTo === me?.id ? ' <kbd>a</kbd>' : ''}</button>` : ''}
      ${c.state === 'offered' && c.offeredTo === me?.id ? '<button data-act="decline" id="decline">Decline</button>' : ''}
      ${
        me?.role === 'supervisor' || me?.role === 'admin'
          ? `<select id="reassign-to" aria-label="Reassign to"><option value="">reassign to…</option>${[
              ...state.users.values(),
            ]
              .filter((u) => u.role === 'operator' || u.role === 'supervisor')
              .map(
                (u) =>
                  `<option value="${esc(u.id)}">${esc(u.name)} (${esc(u.presence ?? 'offline')})</option>`,
              )
              .join('')}</select>`
          : ''
      }
    </div>
    ${
      canResolve
        ? `${c.state === 'accepted' ? `<form id="hold-form" class="row" aria-label="Hold"><label>Call back in <input id="hold-min" type="number" min="1" max="1440" value="15" style="width:4rem"> min</label><input id="hold-reason" aria-label="Reason for the hold" placeholder="hold reason" required><select id="hold-prio" aria-label="Priority when it returns"><option value="">same priority</option>${[1, 2, 3, 4, 5].map((p) => `<option value="${p}">return at P${p}</option>`).join('')}</select><button data-act="hold" type="submit">Hold <kbd>h</kbd></button></form>` : ''}
    <form id="resolve-form" class="row" aria-label="Resolve"><select id="outcome" aria-label="Outcome" required><option value="">outcome…</option>${OUTCOMES.map((o) => `<option value="${esc(o)}">${esc(o)}</option>`).join('')}</select><input id="resolve-reason" aria-label="Reason for the outcome (required)" placeholder="reason (required)" required size="30"><button class="primary" data-act="resolve" type="submit">Resolve <kbd>r</kbd></button></form>`
        : ''
    }
  </section>
  <div class="details-grid">
  ${callsPanel(c.state === 'accepted' && mine)}
  ${factsPanel(c, mine && (c.state === 'accepted' || c.state === 'on_hold' || c.state === 'resolved'))}
  <section class="panel" aria-labelledby="why-heading">
    <h2 id="why-heading">Why</h2>
    ${whyPanel(c)}
    ${c.traceId ? `<div class="meta" id="trace">Trace ${esc(c.traceId)}</div>` : ''}
    <h2>Protocol: ${esc(c.protocol.title)}</h2>
    <ol class="protocol">${c.protocol.steps.map((s) => `<li>${esc(s)}</li>`).join('')}</ol>
  </section>
  <section class="panel" id="resident" aria-labelledby="resident-heading">
    <h2 id="resident-heading">Resident</h2>
    ${context ? '' : '<p class="meta" id="asking-registry">Asking the registry for the resident, devices and responders…</p>'}
    ${context?.message ? `<p class="late">${esc(context.message)}</p>` : ''}
    ${
      r
        ? `<div><b>${esc(r.name)}</b> · ${esc(r.address)} ${esc(r.postcode)} · phone ${esc(r.phone || 'none')}${r.livesAlone ? ' · lives alone' : ''}</div>
    ${r.mobilityNotes ? `<div class="meta">Mobility: ${esc(r.mobilityNotes)}</div>` : ''}${r.riskNotes ? `<div class="meta">Risks: ${esc(r.riskNotes)}</div>` : ''}`
        : ''
    }
    <div class="row">
      <button data-act="reveal-keySafe" id="reveal-keySafe"${r && r.keySafeRecorded === false ? ' title="none recorded"' : ''}>Show key-safe code</button> ${revealed('keySafe') ? `<span class="secret">${esc(revealed('keySafe'))}</span>` : ''}
      <button data-act="reveal-medical" id="reveal-medical"${r && r.medicalRecorded === false ? ' title="none recorded"' : ''}>Show medical notes</button> ${revealed('medical') ? `<span class="secret">${esc(revealed('medical'))}</span>` : ''}
    </div>
    ${context?.devices.length ? `<h3>Devices</h3><table id="devices"><caption class="visually-hidden">Devices and their health</caption>${context.devices.map((d) => `<tr data-serial="${esc(d.serial)}"><td>${esc(deviceKindLabel(d.kind))}</td><td>${esc(d.serial)}${d.location ? `<br><span class="meta">${esc(d.location)}</span>` : ''}</td><td>${esc(d.state)}${d.testMode ? ' (test mode)' : ''}</td>${healthCells(d.health)}</tr>`).join('')}</table>` : ''}
  </section>
  <section class="panel" id="responders" aria-labelledby="responders-heading">
    <h2 id="responders-heading">Responders</h2>
    ${context?.responders.length ? `<table><caption class="visually-hidden">Responders, in the order to call them</caption>${context.responders.map((p) => `<tr data-responder="${esc(p.id)}"><td>${p.order}.</td><td><b>${esc(p.name)}</b> ${esc(p.relationship ?? '')}<br><span class="meta">${esc(p.phone ?? '')}</span></td><td class="result">${esc(resultOf(p.id))}</td><td>${c.state === 'accepted' && mine ? ['accepted', 'declined', 'no-answer'].map((res) => `<button data-act="call-${esc(p.id)}-${res}" data-call="${esc(p.id)}" data-result="${res}" aria-label="${esc(p.name)}: ${res.replace('-', ' ')}">${res.replace('-', ' ')}</button>`).join(' ') : ''}</td></tr>`).join('')}</table>` : '<p class="meta">No responders listed.</p>'}
    ${context?.responders.length && c.state !== 'accepted' ? '<p class="meta">Accept the case to record calls.</p>' : ''}
    ${c.state === 'accepted' && mine ? '<div class="row"><select id="emergency-service" aria-label="Emergency service"><option value="ambulance">ambulance</option><option value="fire">fire</option><option value="police">police</option></select><input id="emergency-ref" aria-label="Emergency call reference" placeholder="reference"><button class="danger" data-act="emergency" id="emergency">Called 999</button></div>' : ''}
  </section>
  </div>
  ${deviceEventsPanel(state.deviceEvents)}
  <section class="panel" aria-labelledby="notes-heading">
    <h2 id="notes-heading">Notes and audit trail</h2>
    <form id="note-form" class="row"><input id="note" aria-label="Note" placeholder="add a note" size="40" required><button data-act="note" type="submit">Add note</button></form>
    ${timelinePanel(c)}
  </section>`;
  if (kept) kept();
  restoreDrafts(el, c.id);
  wire(c.id);
}

/** The fields of the case view whose text is kept while it is typed: a note, and the reasons. */
const DRAFTED = ['note', 'resolve-reason', 'hold-reason'] as const;
const draftsKey = () => `helpline.drafts.${state.me?.id ?? ''}`;
type Drafts = Record<string, Partial<Record<(typeof DRAFTED)[number], string>>>;

function readDrafts(): Drafts {
  try {
    return JSON.parse(sessionStorage.getItem(draftsKey()) ?? '{}') as Drafts;
  } catch {
    return {};
  }
}

/**
 * What the operator is typing into the case view is kept in this tab (sessionStorage, gone with
 * the tab and at sign-out) as it is typed: a reload, the browser brought back after a crash, or the
 * view opening another case lost a note half written at 3 a.m.
 */
function keepDraft(caseId: string, field: string, value: string): void {
  const drafts = readDrafts();
  const kept = { ...drafts[caseId], [field]: value };
  if (!value) delete kept[field as (typeof DRAFTED)[number]];
  if (Object.keys(kept).length) drafts[caseId] = kept;
  else delete drafts[caseId];
  sessionStorage.setItem(draftsKey(), JSON.stringify(drafts));
}

/** The case's drafts are no longer wanted: sent, or the case is over. */
export function forgetDrafts(caseId: string, fields: readonly string[] = DRAFTED): void {
  const drafts = readDrafts();
  if (!drafts[caseId]) return;
  for (const f of fields) keepDraft(caseId, f, '');
}

/** Forgets every draft of this tab (signing out). */
export const forgetAllDrafts = (): void => {
  sessionStorage.removeItem(draftsKey());
  sessionStorage.removeItem(SELECTED_KEY);
};

function restoreDrafts(el: HTMLElement, caseId: string): void {
  const drafts = readDrafts()[caseId] ?? {};
  for (const field of DRAFTED) {
    const f = maybe<HTMLInputElement>(field);
    if (!f || !el.contains(f)) continue;
    const draft = drafts[field];
    if (draft && !f.value) f.value = draft;
    f.addEventListener('input', () => keepDraft(caseId, field, f.value));
  }
}

/** The case on screen, kept in this tab: a reload comes back to it. */
const SELECTED_KEY = 'helpline.selected';
export const rememberedCase = (): string | null => sessionStorage.getItem(SELECTED_KEY);

/**
 * The case view is drawn again on every change to its case: what the operator was typing and
 * where the keyboard was survive it. Returns what puts them back.
 */
function keepForm(el: HTMLElement): () => void {
  const values = new Map<string, string>();
  for (const f of el.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input[id], select[id]'))
    values.set(f.id, f.value);
  const active =
    document.activeElement instanceof HTMLElement && el.contains(document.activeElement)
      ? document.activeElement
      : null;
  // Found again by id, or by the action it does: a responder's or a call's button has no id, and
  // the keyboard fell back to the top of the page at every change of the case (every join of a
  // storm), leaving a keyboard user nowhere.
  const focused = active?.id ?? '';
  const focusedAct = focused ? '' : (active?.dataset.act ?? '');
  const scroll = el.scrollTop;
  return () => {
    for (const [id, value] of values) {
      const f = maybe<HTMLInputElement | HTMLSelectElement>(id);
      if (f && el.contains(f)) f.value = value;
    }
    if (focused) maybe(focused)?.focus();
    else if (focusedAct) el.querySelector<HTMLElement>(`[data-act="${CSS.escape(focusedAct)}"]`)?.focus();
    el.scrollTop = scroll;
  };
}

let onPresence: (presence: string) => void = () => {};
/** Accepting makes an operator busy, holding or resolving frees them: the presence control follows. */
export function whenPresenceChanges(handler: (presence: string) => void): void {
  onPresence = handler;
}

function after(updated: CaseSummary | undefined): Promise<void> {
  if (updated?.id) onCaseChanged(updated);
  api<Me>('/api/me')
    .then((m) => m.presence && onPresence(m.presence))
    .catch(() => {});
  return state.selected ? loadDetail(state.selected, true) : Promise.resolve();
}

let onCaseChanged: (c: CaseSummary) => void = () => {};
export function whenCaseChanges(handler: (c: CaseSummary) => void): void {
  onCaseChanged = handler;
}

const post = <T>(path: string, key: string | undefined, body?: unknown) =>
  api<T>(path, { method: 'POST', ...(key ? { key } : {}), ...(body === undefined ? {} : { body }) });

/** The alerts of the case on screen: a press that joined after it was drawn refuses the hold or resolution. */
const seen = () => (state.detail ? { seenAlerts: state.detail.alertCount } : {});

function wire(id: string): void {
  const reload = () => loadDetail(id, false);
  maybe<HTMLDetailsElement>('device-events')?.addEventListener('toggle', (e) => {
    deviceEventsOpen = (e.target as HTMLDetailsElement).open;
  });
  maybe('accept')?.addEventListener('click', () => accept(id));
  maybe('show-alerts')?.addEventListener('click', () => void act('show-alerts', () => showAllAlerts(id)));
  maybe('show-joins')?.addEventListener('click', () => void act('show-joins', () => showAllJoins(id)));
  maybe('show-older-notes')?.addEventListener('click', () => {
    const c = state.detail;
    if (c?.id === id) void act('show-older-notes', () => showOlderNotes(c));
  });
  wireCalls(id, reload);
  wireFacts(id, reload);
  maybe('decline')?.addEventListener('click', () =>
    act('decline', () => post<CaseSummary>(`/api/cases/${id}/decline`, undefined).then(after)),
  );
  maybe<HTMLSelectElement>('reassign-to')?.addEventListener('change', (e) => {
    const to = (e.target as HTMLSelectElement).value;
    if (to)
      void act('reassign', (key) => post<CaseSummary>(`/api/cases/${id}/reassign`, key, { to }).then(after));
  });
  for (const field of ['keySafe', 'medical'])
    maybe(`reveal-${field}`)?.addEventListener('click', () =>
      act(`reveal-${field}`, async () => {
        const r = await post<{ value?: string | null; message?: string }>(
          `/api/cases/${id}/reveal`,
          undefined,
          {
            field,
          },
        );
        state.revealed.set(`${id}:${field}`, r.value ?? `(${r.message})`);
        await reload();
      }),
    );
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-call]'))
    b.addEventListener('click', () => {
      const p = state.context?.responders.find((x) => x.id === b.dataset.call);
      if (!p) return;
      void act(b.dataset.act ?? 'call', (key) =>
        post(`/api/cases/${id}/responder-calls`, key, {
          responderId: p.id,
          name: p.name,
          result: b.dataset.result,
        }).then(reload),
      );
    });
  maybe('emergency')?.addEventListener('click', () =>
    act('emergency', (key) => {
      const reference = input('emergency-ref').value;
      return post(`/api/cases/${id}/emergency-calls`, key, {
        service: select('emergency-service').value,
        ...(reference ? { reference } : {}),
      }).then(() => {
        input('emergency-ref').value = '';
        return reload();
      });
    }),
  );
  maybe('hold-form')?.addEventListener('submit', (e) => {
    e.preventDefault();
    void act('hold', (key) => {
      const prio = select('hold-prio').value;
      return post<CaseSummary>(`/api/cases/${id}/hold`, key, {
        until: new Date(serverNow() + Number(input('hold-min').value) * 60_000).toISOString(),
        reason: input('hold-reason').value,
        ...(prio ? { returnPriority: Number(prio) } : {}),
        ...seen(),
      })
        .then((c) => {
          forgetDrafts(id, ['hold-reason']);
          return c;
        })
        .then(after);
    });
  });
  maybe('resolve-form')?.addEventListener('submit', (e) => {
    e.preventDefault();
    void act('resolve', (key) =>
      post<CaseSummary>(`/api/cases/${id}/resolve`, key, {
        outcome: select('outcome').value,
        reason: input('resolve-reason').value,
        ...seen(),
      })
        .then((c) => {
          forgetDrafts(id);
          return c;
        })
        .then(after),
    );
  });
  maybe('note-form')?.addEventListener('submit', (e) => {
    e.preventDefault();
    void act('note', async (key) => {
      await post(`/api/cases/${id}/notes`, key, { text: input('note').value });
      // Recorded: the next redraw (or a reload) must not bring the text back.
      input('note').value = '';
      forgetDrafts(id, ['note']);
      await reload();
    });
  });
}

/** Accepts the case with this id (opening it in the case view). */
export function accept(id: string): void {
  state.selected = id;
  sessionStorage.setItem(SELECTED_KEY, id);
  void act('accept', (key) => post<CaseSummary>(`/api/cases/${id}/accept`, key).then(after));
}

export async function selectCase(id: string): Promise<void> {
  // Revealed values stay with the case they were revealed on, and only while it is on screen.
  if (state.selected !== id) state.revealed.clear();
  state.selected = id;
  sessionStorage.setItem(SELECTED_KEY, id);
  state.context = null;
  state.deviceEvents = null;
  renderQueue();
  await loadDetail(id, true);
}

/** The case view's reads in flight, by case, and whether the case changed again meanwhile. */
const refreshing = new Map<string, { again: boolean }>();

/**
 * The least time between the starts of two reads of the case on screen while it keeps changing. A
 * storm joins a case several times a second; reading it again as soon as each read ended was a read
 * (two requests) per round trip, and a case watched by someone who does not hold it (a supervisor,
 * an operator looking at the queue) spent their REQUESTS_PER_MINUTE in seconds: the view, the
 * overview and the queue's names were then refused, to the person watching the storm.
 */
const REFRESH_GAP_MS = 1000;

/**
 * Reads the case on screen again after a change of it: one read at a time, and one more after it
 * for whatever changed meanwhile, at most one a REFRESH_GAP_MS while changes keep coming (the first
 * change after a quiet spell is read at once). A read per change, as it was, made a storm joining a
 * case several times a second a read of the case (and its calls) per change from every console
 * showing it, piling up on a helpline already slow under the storm.
 */
export function refreshDetail(id: string): void {
  const running = refreshing.get(id);
  if (running) {
    running.again = true;
    return;
  }
  const entry = { again: false };
  refreshing.set(id, entry);
  void (async () => {
    try {
      do {
        entry.again = false;
        const started = performance.now();
        await loadDetail(id, false);
        if (!entry.again) break;
        const wait = REFRESH_GAP_MS - (performance.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      } while (state.selected === id);
    } finally {
      refreshing.delete(id);
    }
  })();
}

/**
 * The case's device events. One person has only a few of these reads running at once (each scans
 * EVENTS): clicking on through the queue while earlier ones still run is answered 429, so the read
 * is asked again after its `Retry-After` while the case is still the one on screen.
 */
async function readDeviceEvents(id: string): Promise<DeviceEvents> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api<DeviceEvents>(`/api/cases/${id}/timeline?hours=24`, { timeoutMs: SCAN_TIMEOUT_MS });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 429 && attempt < 5 && state.selected === id)) throw err;
      await new Promise((resolve) => setTimeout(resolve, (err.retryAfterS ?? 2) * 1000));
    }
  }
}

/** How many steps the case has had: every step is kept, so a later read never has fewer. */
const stepsOf = (c: CaseDetail): number => c.events.length + c.joinsLeftOut + c.notesLeftOut;

const missingContext = (e: Error): CaseContext => ({
  available: false,
  message: e.message,
  resident: null,
  devices: [],
  responders: [],
});

/**
 * Draws the case as soon as the helpline gives it, then again once the registry (the resident,
 * devices, responders, the numbers to call) and EVENTS (the device events) have answered: a
 * registry that is slow or silent never keeps an offered case, its reasons and its Accept button
 * off the screen. The case view says it is asking until then.
 */
export async function loadDetail(id: string, withContext: boolean): Promise<void> {
  try {
    const fresh = withContext || !state.context;
    const context = fresh ? api<CaseContext>(`/api/cases/${id}/context`).catch(missingContext) : undefined;
    const events =
      fresh || !state.deviceEvents
        ? readDeviceEvents(id).catch(
            (e: Error): DeviceEvents => ({ events: [], complete: false, message: e.message }),
          )
        : undefined;
    const calling = loadCalls(id);
    const d = await api<CaseDetail>(`/api/cases/${id}`);
    if (state.selected !== id) return;
    // Reads of the case overtake each other (each change of it reads it again, each read on a
    // connection of its own): an older answer landing last hid a press already on screen, and the
    // resolution sent from it was refused for a press the operator had seen. A case's steps only
    // grow, so the answer with fewer of them is the older one.
    const shown = state.detail?.id === id ? state.detail : null;
    if (!shown || stepsOf(d) >= stepsOf(shown)) {
      state.detail = d;
      renderDetail();
    }
    const [ctx, tl] = await Promise.all([context, events, calling]);
    if (state.selected !== id) return;
    if (ctx) state.context = ctx;
    if (tl) state.deviceEvents = tl;
    const name = state.context?.resident?.name;
    if (name && !state.residentNames.has(d.residentId)) {
      state.residentNames.set(d.residentId, name);
      renderQueue();
    }
    renderDetail();
  } catch (err) {
    notice(err instanceof Error ? err.message : String(err));
  }
}
