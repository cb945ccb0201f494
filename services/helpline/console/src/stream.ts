import { ANSWER_TIMEOUT_MS, type ApiError, api, token } from './api.ts';
import { heardServerTime } from './clock.ts';
import { $, select } from './dom.ts';
import { type HeldAlarm, heardHeld } from './held.ts';
import { heardSession } from './session.ts';
import { beep } from './sound.ts';
import { state } from './state.ts';
import { refreshTargetsSoon } from './targets.ts';
import { after, everySecond } from './ticker.ts';
import { alarmArrived } from './title.ts';
import type { CaseSummary, SessionTimes } from './types.ts';
import { isOpen } from './types.ts';

let source: EventSource | null = null;
/** This tab's console id on the server: its heartbeats keep this person present. */
let consoleId: string | null = null;

type CaseListener = (c: CaseSummary, before: CaseSummary | undefined) => void;
const listeners: CaseListener[] = [];
/** Called after every change to a case this console hears of, once the queue holds it. */
export function onCaseChange(listener: CaseListener): void {
  listeners.push(listener);
}

let onSnapshot: () => void = () => {};
export function whenSnapshot(handler: () => void): void {
  onSnapshot = handler;
}

/**
 * A case's repeat presses sound at most this often. Each press of a resident pressing again joins
 * the case as a repeat; a stolen pendant's login pressing at its device's rate (20 a second) made
 * every console sound without pause, and a new P1 from another home then sounded like the flood.
 * The card still counts every press; a new case, an escalation or a case made P1 sounds at once.
 */
const REPEAT_TONE_EVERY_MS = 10_000;
/** Per open case: when its last repeat sounded on this console. */
const repeatSounded = new Map<string, number>();

function repeatToneDue(caseId: string): boolean {
  const now = Date.now();
  const last = repeatSounded.get(caseId);
  if (last !== undefined && now - last < REPEAT_TONE_EVERY_MS) return false;
  repeatSounded.set(caseId, now);
  return true;
}

/**
 * Whether this change is the resident pressing again: a repeat (a press within triage's five
 * minutes of the first), or a press of its own that joined the open case later (within the join
 * window), which the case's count of presses shows. To the resident and the operator they are one
 * thing, so both sound and are said alike; only the repeat did, and a press six minutes after the
 * first joined the case in hand, or brought a held case back to the queue, without a sound.
 */
export function pressedAgain(c: CaseSummary, before: CaseSummary | undefined): boolean {
  const ev = c.lastEvent;
  if (ev?.kind !== 'alert-joined') return false;
  return Boolean(ev.data.repeat) || (before !== undefined && c.presses > before.presses);
}

export function onCase(c: CaseSummary): void {
  const before = state.cases.get(c.id);
  const open = isOpen(c.state);
  if (open) state.cases.set(c.id, c);
  else {
    state.cases.delete(c.id);
    repeatSounded.delete(c.id);
  }
  const ev = c.lastEvent;
  if (ev?.kind === 'accepted' || ev?.kind === 'opened') refreshTargetsSoon();
  if (c.priority === 1 && open && before?.priority !== 1 && ev) {
    alarmArrived(c.id);
    beep(3);
  }
  // Pressed again, or any alert bringing a held case back: sound again on every console, whoever
  // holds the case (a case's tones at most once in ten seconds).
  else if (open && (pressedAgain(c, before) || (ev?.kind === 'alert-joined' && ev.data.requeuedFromHold))) {
    if (repeatToneDue(c.id)) beep(3);
  } else if (ev?.kind === 'escalated') beep(2);
  // A case whose operator has gone is everybody's business: every console hears it.
  else if (ev?.kind === 'operator-gone') beep(2);
  for (const listener of listeners) listener(c, before);
}

export function closeStream(): void {
  source?.close();
  source = null;
}

/**
 * When this console last heard anything on its stream, and how long a silence means the stream is
 * dead. The helpline pings every `pingMs`; a connection that died without a FIN or RST (a Wi-Fi
 * roam, a NAT that forgot it, a laptop waking from sleep) looks open to the browser for minutes,
 * while nothing arrives: the queue stops moving, still reading "live", and with no pings there are
 * no heartbeats, so the helpline counts its operator gone and offers them nothing. Two missed
 * pings, and the console opens a new stream (a fresh snapshot) itself.
 */
let lastHeard = 0;
let silenceLimitMs = 11_000;
let heartbeatTimeoutMs = 10_000;
let watching = false;

function heard(): void {
  lastHeard = Date.now();
}

function watchSilence(): void {
  if (watching) return;
  watching = true;
  // Checked every second (in a background tab too) and against the wall clock, so a laptop waking
  // from sleep reconnects at once.
  everySecond(() => {
    if (!source || source.readyState === EventSource.CLOSED) return;
    const silent = Date.now() - lastHeard;
    if (silent <= silenceLimitMs) return;
    const status = $('status');
    status.textContent = `helpline not answering for ${Math.round(silent / 1000)} s: the queue may be out of date; connecting again…`;
    status.className = 'bad';
    connect();
  });
}

/** Connections asked for: a ticket that arrives after a newer connect() is not used. */
let connecting = 0;

export function connect(): void {
  source?.close();
  source = null;
  consoleId = null;
  heard();
  watchSilence();
  if (!token) {
    open('/api/stream', false);
    return;
  }
  // EventSource sends no Authorization header, and a token in a URL is refused (logs and history
  // keep URLs): a page signed in with a token opens its stream with a one-use ticket instead.
  const attempt = ++connecting;
  api<{ ticket: string }>('/api/stream/ticket', { method: 'POST' }).then(
    ({ ticket }) => {
      if (attempt === connecting) open(`/api/stream?ticket=${encodeURIComponent(ticket)}`, true);
    },
    (err: ApiError) => {
      const status = $('status');
      status.textContent = 'reconnecting…';
      status.className = 'bad';
      if (err.status !== 401 && attempt === connecting) after(5000, connect);
    },
  );
}

function open(url: string, ticketed: boolean): void {
  const status = $('status');
  // EventSource reconnects by itself and sends Last-Event-ID, so the server replays what was missed.
  const es = new EventSource(url);
  source = es;
  es.addEventListener('open', () => {
    heard();
    status.textContent = 'live';
    status.className = '';
  });
  es.addEventListener('error', () => {
    status.textContent = 'reconnecting…';
    status.className = 'bad';
    // EventSource would retry with the ticket it was given, which is spent: a new one instead.
    if (ticketed) es.close();
    // A refused stream is not retried by the browser: signed out (here, elsewhere or by a
    // supervisor) shows the sign-in form; anything else tries again shortly.
    // A helpline that cannot check the session (its database down) is tried again later too.
    if (es.readyState === EventSource.CLOSED)
      api('/api/me').then(
        () => after(2000, connect),
        (err: ApiError) => {
          if (err.status !== 401) after(5000, connect);
        },
      );
  });
  // Presence: the stream names this tab's console; each ping is answered, and while the answers
  // arrive this person counts as there. A closed tab or a lost network stops them.
  es.addEventListener('hello', (e) => {
    heard();
    const hello = JSON.parse((e as MessageEvent<string>).data) as {
      console: string;
      now?: string;
      pingMs?: number;
    };
    consoleId = hello.console;
    if (hello.pingMs && hello.pingMs > 0) {
      silenceLimitMs = 2 * hello.pingMs + 1_000;
      heartbeatTimeoutMs = Math.max(2 * hello.pingMs, 2_000);
    }
    heardServerTime(hello.now);
    void heartbeat();
  });
  es.addEventListener('ping', (e) => {
    heard();
    heardServerTime((JSON.parse((e as MessageEvent<string>).data || '{}') as { now?: string }).now);
    void heartbeat();
  });
  // The alarms the helpline holds but cannot make cases of (its database down): on connect and on change.
  es.addEventListener('held', (e) => {
    heard();
    heardHeld(JSON.parse((e as MessageEvent<string>).data) as { alerts: HeldAlarm[]; total: number });
  });
  es.addEventListener('snapshot', () => {
    heard();
    state.cases.clear();
    onSnapshot();
  });
  es.addEventListener('case', (e) => {
    heard();
    onCase(JSON.parse((e as MessageEvent<string>).data) as CaseSummary);
  });
}

/** Whether the last heartbeat failed for a reason other than this console being unknown. */
let troubled = false;

async function heartbeat(): Promise<void> {
  const id = consoleId;
  if (!id) return;
  try {
    // An answer later than the next ping is no use: the next heartbeat goes on a connection of its own.
    const r = await api<{ chosenPresence?: string | null; session?: SessionTimes | null }>(
      '/api/presence/heartbeat',
      {
        method: 'POST',
        body: { console: id },
        timeoutMs: heartbeatTimeoutMs,
      },
    );
    if (troubled) {
      troubled = false;
      const status = $('status');
      status.textContent = 'live';
      status.className = '';
    }
    heardSession(r.session);
    // A supervisor may have set this person away: the control shows what holds now.
    const presence = select('presence');
    // None chosen yet reads "not set", never the first option, "available".
    if (document.activeElement !== presence) presence.value = r.chosenPresence ?? '';
  } catch (err) {
    const status = (err as ApiError).status;
    // The server no longer knows this console (signed out elsewhere, or restarted): a new stream,
    // unless one was opened meanwhile (the answer is about a stream already given up on).
    if (status === 404) {
      if (consoleId === id) connect();
    } else if (status !== 401) void sayTrouble();
  }
}

/**
 * The stream follows CASES, so it stays open while the helpline cannot reach its database: the
 * queue on screen would still read "live" while no new alarm can reach it. A heartbeat the
 * helpline cannot record says so, in words, until one is recorded again.
 */
async function sayTrouble(): Promise<void> {
  troubled = true;
  let database: 'down' | 'refuses writes' | undefined;
  try {
    const ready = (await (
      await fetch('/readyz', { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) })
    ).json()) as { checks?: Record<string, boolean> };
    // A database that answers but refuses writes (read-only after a failover, disk full) takes no
    // new alarm and saves no action either, though it still shows the queue.
    database =
      ready.checks?.postgres === false
        ? 'down'
        : ready.checks?.['postgres-writes'] === false
          ? 'refuses writes'
          : undefined;
  } catch {
    // Not even /readyz answers: the helpline itself is in trouble.
  }
  if (!troubled) return;
  const status = $('status');
  status.textContent =
    database === 'down'
      ? 'case database down: new alarms cannot show, the queue may be out of date'
      : database === 'refuses writes'
        ? 'case database refuses writes: new alarms cannot show and actions are not saved; the queue may be out of date'
        : 'helpline not answering: the queue may be out of date';
  status.className = 'bad';
}
