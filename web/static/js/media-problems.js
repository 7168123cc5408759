// The notes next to the media buttons on what does not work: a camera,
// microphone or screen that failed (media-devices.js), a join the server
// refused or media taken to another window (media-signalling.js). One note
// per kind, so each part clears its own without touching the others'.

import { element } from './app.js';

export class Problems {
  /** @param {HTMLElement} list the `<ul>` the notes go in, hidden while there are none */
  constructor(list) {
    this.list = list;
    /** kind → text, in the order they first appeared. */
    this.shown = new Map();
  }

  /** Shows (or with '' clears) one kind of problem. */
  show(kind, text) {
    if (text) this.shown.set(kind, text);
    else this.shown.delete(kind);
    this.draw();
  }

  /** Clears every note: media stopped, nothing is left to fix. */
  clear() {
    this.shown.clear();
    this.draw();
  }

  draw() {
    this.list.replaceChildren(...[...this.shown.values()].map((problem) => element('li', '', problem)));
    this.list.hidden = this.shown.size === 0;
  }
}
