let audio: AudioContext | undefined;

/**
 * A short tone for a new P1, a press again and each escalation step. Sound is never the only
 * signal: the count of cues is on the page (`data-cue`) and the banner says the same in words.
 */
export function beep(times = 2): void {
  try {
    audio ??= new AudioContext();
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
  } catch {
    // No audio device: the colour and the words still show.
  }
  document.body.dataset.cue = String(Number(document.body.dataset.cue ?? 0) + 1);
}
