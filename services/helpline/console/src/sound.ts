import { $ } from './dom.ts';

let audio: AudioContext | undefined;
/** When the last tone of any kind was played (PC time). */
let lastToneAt = Number.NEGATIVE_INFINITY;

/**
 * A P1 nobody has answered sounds again this often, on every console, until someone accepts it.
 * The tone rang once when it came in and at each rung of the ladder, the last at 90 s: a press
 * missed under a headset, or waiting past the ladder, was never heard again.
 */
export const ALARM_REMINDER_MS = 10_000;

/**
 * Whether the browser lets this page make sound. A page opened or reloaded without a click or a
 * key press on it (a console reloaded over the night, a session that came back by itself) may be
 * held silent by the browser's autoplay rules: every tone would then be lost without a word. The
 * banner says so until the operator clicks or presses a key anywhere on the page, which lets the
 * sound play from then on.
 */
function showSound(): void {
  const on = audio?.state === 'running';
  document.body.dataset.sound = on ? 'on' : 'off';
  $('sound-off').classList.toggle('hidden', on || audio === undefined);
}

function unlock(): void {
  if (!audio || audio.state === 'running') return;
  audio.resume().then(showSound, showSound);
}

/** Made once the console shows: the tone's context, and the banner while the browser holds it silent. */
export function armSound(): void {
  if (audio) return;
  try {
    audio = new AudioContext();
  } catch {
    // No audio at all: the colour and the words still show, and there is nothing to unlock.
    return;
  }
  audio.addEventListener('statechange', showSound);
  for (const kind of ['pointerdown', 'keydown'] as const) document.addEventListener(kind, unlock, true);
  $('sound-on').addEventListener('click', unlock);
  showSound();
  // Where the browser already allows sound (signing in was a click) the context starts at once;
  // where it does not, it stays held, and the banner shows, until a click or a key press.
  unlock();
}

/**
 * A short tone for a new P1, a press again and each escalation step. Sound is never the only
 * signal: the count of cues is on the page (`data-cue`) and the banner says the same in words.
 */
export function beep(times = 2): void {
  try {
    armSound();
    if (audio) {
      for (let i = 0; i < times; i++) {
        const o = audio.createOscillator();
        const g = audio.createGain();
        o.frequency.value = 880;
        o.connect(g);
        g.connect(audio.destination);
        const t = audio.currentTime + i * 0.35;
        g.gain.setValueAtTime(0.2, t);
        g.gain.exponentialRampToValueAtTime(0.001, t + 0.3);
        o.start(t);
        o.stop(t + 0.3);
      }
    }
  } catch {
    // No audio device: the colour and the words still show.
  }
  lastToneAt = Date.now();
  document.body.dataset.cue = String(Number(document.body.dataset.cue ?? 0) + 1);
}

/** Called at every tick (`ticker.ts`, every second): while a P1 waits unanswered, a tone again once none has sounded for a while. */
export function remindWaitingAlarm(waiting: boolean): void {
  if (waiting && Date.now() - lastToneAt >= ALARM_REMINDER_MS) beep(1);
}
