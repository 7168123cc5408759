// The session's shared timer in the room (docs/RITUAL.md). The server holds
// it; this page counts down against the server's clock, not its own: each
// reading of `GET /api/sessions/{id}/timer` carries `server_now`, and the
// time left is `ends_at - server_now`, less what this page's clock says has
// passed since the reading arrived. The live `session:` query says when the
// timer changed (a host's button, or a block ending on the server); the page
// then reads it again. A chime (WebAudio, no file) marks each block change,
// unless this person muted it (kept in localStorage); with "quiet work" on,
// each page mutes its own microphone as a work block starts.

import { api } from './app.js';

const KIND_WORDS = { work: 'Work', break: 'Break', long_break: 'Long break' };
const CHIME_KEY = 'lockin.timer.chime';

/** `m:ss` (or `h:mm:ss`) of a number of milliseconds, never negative. */
function clock(ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export class SharedTimer {
  /**
   * @param {object} options
   * @param {string} options.sessionId
   * @param {(text: string) => void} options.announce tells screen readers
   * @param {() => void} options.onWorkStart a work block started in a quiet-work session
   */
  constructor({ sessionId, announce, onWorkStart }) {
    this.sessionId = sessionId;
    this.announce = announce;
    this.onWorkStart = onWorkStart;
    this.root = document.getElementById('timer');
    this.clock = document.getElementById('timer-clock');
    this.label = document.getElementById('timer-label');
    this.error = document.getElementById('timer-error');
    this.chimeButton = document.getElementById('timer-chime');
    /** The last reading, and `performance.now()` when it arrived. */
    this.reading = null;
    this.receivedAt = 0;
    /** The timer as the live session last showed it, to notice changes. */
    this.seen = null;
    this.reads = 0;
    this.audio = null;
    for (const button of document.querySelectorAll('[data-timer-action]')) {
      button.addEventListener('click', () => this.act(button.dataset.timerAction));
    }
    this.showChime();
    this.chimeButton.addEventListener('click', () => {
      localStorage.setItem(CHIME_KEY, this.chimeOn() ? 'off' : 'on');
      this.showChime();
    });
    setInterval(() => this.draw(), 250);
  }

  chimeOn() {
    return localStorage.getItem(CHIME_KEY) !== 'off';
  }

  showChime() {
    const on = this.chimeOn();
    this.chimeButton.setAttribute('aria-pressed', String(!on));
    this.chimeButton.textContent = on ? 'Mute chime' : 'Unmute chime';
  }

  /** The live session changed: read the timer again if its part did. */
  follow(session) {
    const seen = JSON.stringify(session.timer);
    if (seen === this.seen) return;
    this.seen = seen;
    this.read();
  }

  async read() {
    // Readings may come back out of order; only the latest one counts.
    const mine = ++this.reads;
    try {
      const reading = await api('GET', `/api/sessions/${this.sessionId}/timer`);
      if (mine === this.reads) this.take(reading);
    } catch {
      // The next change reads it again.
    }
  }

  async act(action) {
    this.error.hidden = true;
    try {
      const body = { action };
      // An ad-hoc timer (a session without a planned length or pomodoro) takes the host's minutes.
      const minutes = document.getElementById('timer-minutes');
      if (action === 'start' && minutes) body.minutes = Number(minutes.value);
      const reading = await api('POST', `/api/sessions/${this.sessionId}/timer`, body);
      ++this.reads;
      this.take(reading);
    } catch (error) {
      this.error.textContent = error.message;
      this.error.hidden = false;
    }
  }

  take(reading) {
    const before = this.reading?.timer;
    this.reading = reading;
    this.receivedAt = performance.now();
    const now = reading.timer;
    const moved = before && (before.state !== now.state || before.block_index !== now.block_index);
    // A block change: a start, a block ending or skipped, the end of the plan.
    const changedBlock = moved && !(before.state === 'running' && now.state === 'paused')
      && !(before.state === 'paused' && now.state === 'running' && before.block_index === now.block_index);
    if (changedBlock) {
      this.chime();
      this.announce(this.describe(now));
      if (reading.quiet_work && now.state === 'running' && now.block_kind === 'work') this.onWorkStart();
    }
    this.draw();
  }

  /** What is left of the current block, by the server's clock. */
  remainingMs() {
    const timer = this.reading?.timer;
    if (!timer) return null;
    if (timer.state === 'paused') return timer.remaining_ms;
    if (timer.state !== 'running') return null;
    const elapsed = performance.now() - this.receivedAt;
    return Date.parse(timer.ends_at) - Date.parse(this.reading.server_now) - elapsed;
  }

  describe(timer) {
    if (timer.state === 'not_started') return 'Timer not started';
    if (timer.state === 'finished') return 'Timer finished';
    const what = `${KIND_WORDS[timer.block_kind] || 'Block'} · block ${timer.block_index + 1} of ${timer.block_count}`;
    return timer.state === 'paused' ? `Paused · ${what}` : what;
  }

  draw() {
    const timer = this.reading?.timer;
    if (!timer) return;
    const remaining = this.remainingMs();
    this.root.dataset.state = timer.state;
    this.root.dataset.kind = timer.block_kind || '';
    this.clock.dataset.remainingMs = remaining === null ? '' : String(Math.max(0, Math.round(remaining)));
    this.clock.textContent = remaining === null ? '--:--' : clock(remaining);
    const words = this.describe(timer);
    if (this.label.textContent !== words) this.label.textContent = words;
    for (const idle of this.root.querySelectorAll('[data-timer-when="idle"]')) {
      idle.hidden = timer.state === 'running' || timer.state === 'paused';
    }
    for (const button of this.root.querySelectorAll('[data-timer-action]')) {
      const action = button.dataset.timerAction;
      const running = timer.state === 'running';
      const paused = timer.state === 'paused';
      button.hidden = {
        start: running || paused,
        pause: !running,
        resume: !paused,
        skip: !(running || paused),
        add_five: !(running || paused),
      }[action];
    }
  }

  /** A soft two-note chime, made here: no sound file to load. */
  chime() {
    if (!this.chimeOn()) return;
    try {
      this.audio = this.audio || new AudioContext();
      const start = this.audio.currentTime;
      for (const [offset, frequency] of [[0, 660], [0.18, 880]]) {
        const tone = this.audio.createOscillator();
        const gain = this.audio.createGain();
        tone.type = 'sine';
        tone.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, start + offset);
        gain.gain.exponentialRampToValueAtTime(0.08, start + offset + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.6);
        tone.connect(gain).connect(this.audio.destination);
        tone.start(start + offset);
        tone.stop(start + offset + 0.65);
      }
    } catch {
      // No audio here (or not allowed yet): the change is still shown and announced.
    }
  }
}
