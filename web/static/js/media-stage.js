// The stage: a tile for everyone present — their camera when it is on, their
// initial when not, a mark when their microphone is off, a ring around
// whoever speaks — the large view of screen shares above the tiles, and the
// hidden <audio> elements everyone's sound plays in. It draws what the
// signalling received and my own devices, and sends nothing.
//
// Every draw compares with what is on the page and touches only what
// changed, so it is safe to draw after any change.

import { element, initial } from './app.js';
import { goalLine } from './goals.js';

const MIC_OFF_ICON =
  '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M12 14a3 3 0 0 0 3-3V5a3 3 0 1 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-8.6 3.5l-1.4 1.4A7 7 0 0 0 11 17.9V21h2v-3.1A7 7 0 0 0 19 11h-2ZM3.7 2.3 2.3 3.7l18 18 1.4-1.4-18-18Z"/></svg>';

export class Stage {
  /**
   * @param {object} options
   * @param {string} options.me the signed-in person's user id
   * @param {import('./media-signalling.js').Signalling} options.signalling whose lines are whose, and what arrived on them
   * @param {import('./media-devices.js').Devices} options.devices my own camera, microphone and screen share
   */
  constructor({ me, signalling, devices }) {
    this.me = me;
    this.signalling = signalling;
    this.devices = devices;

    /** People present, from the participants query: [{user_id, name, role}]. */
    this.people = [];
    /** user id → the tile's elements. */
    this.tiles = new Map();
    /** The mid of a received share ('mine' for my own) → its elements in the spotlight. */
    this.screens = new Map();
    /** mid → the <audio> it plays in. */
    this.audios = new Map();

    this.stage = document.getElementById('stage');
    this.tileList = document.getElementById('tiles');
    this.spotlight = document.getElementById('spotlight');
    this.audioBox = document.getElementById('media-audio');
    this.soundButton = document.getElementById('media-sound');
    this.soundButton.addEventListener('click', () => this.playAll());
  }

  /** The people present, from the participants query. */
  setPeople(people) {
    this.people = people;
    this.render();
  }

  /** Draws what is left once media stops: others' name tiles. */
  stop() {
    this.render();
  }

  /** The track arrived for `source` of `userId`, if one has. */
  trackOf(userId, source) {
    for (const [mid, info] of this.signalling.tracks) {
      if (info.user_id === userId && info.source === source) {
        const track = this.signalling.received.get(mid);
        if (track) return track;
      }
    }
    return null;
  }

  render() {
    const order = this.people.map((person) => ({ id: person.user_id, name: person.name, role: person.role, goal: goalLine(person) }));
    const listed = new Set(order.map((person) => person.id));
    // Someone whose media arrived before the participants list: show them too.
    for (const info of this.signalling.tracks.values()) {
      if (!listed.has(info.user_id)) {
        listed.add(info.user_id);
        order.push({ id: info.user_id, name: info.name, role: 'participant', goal: '' });
      }
    }
    this.drawTiles(order);
    this.drawScreens();
    this.drawAudio();
  }

  // ---- Tiles --------------------------------------------------------------------------

  drawTiles(order) {
    const list = this.tileList;
    const keep = new Set(order.map((person) => person.id));
    for (const [id, tile] of this.tiles) {
      if (!keep.has(id)) {
        tile.root.remove();
        this.tiles.delete(id);
      }
    }
    order.forEach((person, index) => {
      let tile = this.tiles.get(person.id);
      if (!tile) {
        tile = this.makeTile(person);
        this.tiles.set(person.id, tile);
      }
      this.updateTile(tile, person);
      if (list.children[index] !== tile.root) list.insertBefore(tile.root, list.children[index] || null);
    });
  }

  makeTile(person) {
    const root = element('li', 'tile');
    root.dataset.userId = person.id;
    const video = element('video', 'tile-video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.hidden = true;
    video.setAttribute('aria-hidden', 'true');
    const avatar = element('span', 'tile-avatar');
    avatar.setAttribute('aria-hidden', 'true');
    const label = element('span', 'tile-label');
    const name = element('span', 'tile-name');
    const muted = element('span', 'tile-muted');
    muted.setAttribute('role', 'img');
    muted.setAttribute('aria-label', 'Microphone off');
    muted.title = 'Microphone off';
    muted.innerHTML = MIC_OFF_ICON;
    muted.hidden = true;
    label.append(name, muted);
    // What they said they will do, under their name.
    const goal = element('p', 'tile-goal');
    goal.hidden = true;
    root.append(video, avatar, label, goal);
    // `key` is the name and role last drawn: they change rarely, the rest often.
    return { root, video, avatar, name, muted, goal, badge: null, key: '' };
  }

  updateTile(tile, person) {
    const mine = person.id === this.me;
    const key = `${person.name}|${person.role}`;
    if (tile.key !== key) {
      tile.key = key;
      tile.name.textContent = mine ? `${person.name} (you)` : person.name;
      tile.avatar.textContent = initial(person.name);
      tile.root.classList.toggle('tile-agent', person.role === 'agent');
      if (tile.badge) tile.badge.remove();
      tile.badge = null;
      if (person.role === 'host' || person.role === 'agent') {
        tile.badge = element('span', person.role === 'host' ? 'badge badge-role' : 'badge badge-agent', person.role === 'host' ? 'Host' : 'AI agent');
        tile.name.after(tile.badge);
      }
    }
    tile.root.classList.toggle('tile-self', mine);
    if (tile.goal.textContent !== person.goal) {
      tile.goal.textContent = person.goal;
      tile.goal.title = person.goal;
      tile.goal.hidden = !person.goal;
    }

    let camera = null;
    let micOff;
    if (mine) {
      camera = this.devices.cameraTrack;
      micOff = this.devices.micMarkedOff();
    } else {
      const state = this.signalling.states[person.id];
      camera = state && state.camera ? this.trackOf(person.id, 'camera') : null;
      micOff = Boolean(state && !state.microphone);
    }
    showVideo(tile.video, camera);
    tile.root.classList.toggle('tile-has-video', Boolean(camera));
    tile.muted.hidden = !micOff;
    // The server says who speaks, from the audio levels on everyone's
    // microphone packets, mine included.
    tile.root.classList.toggle('tile-speaking', this.signalling.speakers.includes(person.id));
  }

  // ---- Screen shares -------------------------------------------------------------------

  drawScreens() {
    const shares = [];
    for (const info of this.signalling.tracks.values()) {
      if (info.source !== 'screen' || info.kind !== 'video') continue;
      const track = this.signalling.received.get(info.mid);
      if (track) shares.push({ key: info.mid, userId: info.user_id, name: info.name, track });
    }
    if (this.devices.screen) shares.push({ key: 'mine', userId: this.me, name: null, track: null });
    const keep = new Set(shares.map((share) => share.key));
    for (const [key, screen] of this.screens) {
      if (!keep.has(key)) {
        screen.root.remove();
        this.screens.delete(key);
      }
    }
    for (const share of shares) {
      let screen = this.screens.get(share.key);
      if (!screen) {
        screen = this.makeScreen(share);
        this.screens.set(share.key, screen);
        this.spotlight.append(screen.root);
      }
      if (screen.video) showVideo(screen.video, share.track);
    }
    this.spotlight.hidden = shares.length === 0;
    this.stage.classList.toggle('stage-sharing', shares.length > 0);
  }

  makeScreen(share) {
    const root = element('figure', 'screen');
    root.dataset.userId = share.userId;
    if (share.key === 'mine') {
      // My own screen is not shown back to me: a note, and a way to stop.
      root.classList.add('screen-mine');
      const note = element('p', 'screen-note', 'You are sharing your screen.');
      const stop = element('button', 'btn btn-secondary', 'Stop sharing');
      stop.type = 'button';
      stop.addEventListener('click', () => this.devices.stopScreen());
      root.append(note, stop);
      return { root, video: null };
    }
    const video = element('video', 'screen-video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    const caption = element('figcaption', 'screen-caption', `${share.name}'s screen`);
    root.setAttribute('aria-label', `${share.name}'s screen`);
    root.append(video, caption);
    return { root, video };
  }

  // ---- Sound --------------------------------------------------------------------------

  drawAudio() {
    const keep = new Set();
    for (const [mid, info] of this.signalling.tracks) {
      const track = this.signalling.received.get(mid);
      if (info.kind !== 'audio' || !track) continue;
      keep.add(mid);
      let audio = this.audios.get(mid);
      if (!audio) {
        audio = element('audio');
        audio.autoplay = true;
        this.audios.set(mid, audio);
        this.audioBox.append(audio);
      }
      if (!audio.srcObject || audio.srcObject.getTracks()[0] !== track) {
        audio.srcObject = new MediaStream([track]);
        this.play(audio);
      }
    }
    for (const [mid, audio] of this.audios) {
      if (!keep.has(mid)) {
        audio.srcObject = null;
        audio.remove();
        this.audios.delete(mid);
      }
    }
  }

  /** Starts an audio element; a browser that wants a click first gets a button. */
  play(audio) {
    const started = audio.play();
    if (started && started.catch) {
      started.catch(() => {
        this.soundButton.hidden = false;
      });
    }
  }

  playAll() {
    this.soundButton.hidden = true;
    for (const audio of this.audios.values()) this.play(audio);
  }
}

/** Shows `track` in `video` (or hides it without one), touching the element only on a change. */
function showVideo(video, track) {
  const current = video.srcObject ? video.srcObject.getVideoTracks()[0] : null;
  if (current !== (track || null)) {
    video.srcObject = track ? new MediaStream([track]) : null;
    if (track) video.play().catch(() => {});
  }
  video.hidden = !track;
}
