// The room's audio, video and screen share (docs/MEDIA.md).
//
// One RTCPeerConnection per room, to the server's SFU, signalled over the
// live WebSocket with the `media.*` messages. This page offers first (its
// offer joins) and is the impolite side of "perfect negotiation": it ignores
// a server offer while its own is out; the server gives way and offers again.
// Its own lines (microphone, camera, screen, screen audio) are send-only;
// it receives on the lines the server adds, and `media.tracks` says whose
// each one is.
//
// The stage shows everyone present as a tile: their camera when it is on,
// their initial when not, a mark when their microphone is off, a ring
// around whoever speaks. A screen share gets the large view above.
// Cameras and microphones that fail (none, blocked, busy) are explained
// next to the buttons; the room works without them.

import { element, initial } from './app.js';

const SPEAKING_LEVEL = 0.02; // audioLevel (0..1) above which someone speaks
const SPEAKER_HOLD_MS = 1500; // how long the ring stays after they stop
const STATS_EVERY_MS = 400;
const ICE_GRACE_MS = 2500; // "disconnected" this long: restart ICE
const REJOIN_DELAYS_MS = [500, 1000, 2000, 5000, 10000];

const CAMERA = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 24, max: 30 },
};
// Smallest first, as the SFU expects until it has measured them.
const CAMERA_LAYERS = [
  { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'h', maxBitrate: 1500000 },
];

const MIC_OFF_ICON =
  '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M12 14a3 3 0 0 0 3-3V5a3 3 0 1 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-8.6 3.5l-1.4 1.4A7 7 0 0 0 11 17.9V21h2v-3.1A7 7 0 0 0 19 11h-2ZM3.7 2.3 2.3 3.7l18 18 1.4-1.4-18-18Z"/></svg>';

/** What went wrong with a camera, microphone or screen, in words a person can act on. */
function deviceProblem(what, error) {
  const name = error && error.name;
  if (!window.isSecureContext) {
    return `The ${what} needs a secure (https) connection to this site. You can still see and hear the others.`;
  }
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `The ${what} is blocked for this site. Allow it in your browser's site settings (the icon in the address bar), then press ${what === 'microphone' ? 'Microphone' : 'Camera'} again.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} was found. Plug one in, then press ${what === 'microphone' ? 'Microphone' : 'Camera'} again.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} could not be started: another app may be using it. Close that app, then try again.`;
    default:
      return `The ${what} could not be started${error && error.message ? ` (${error.message})` : ''}.`;
  }
}

export class Media {
  /**
   * @param {object} options
   * @param {import('./live.js').Live} options.live the page's live connection
   * @param {string} options.sessionId
   * @param {string} options.me the signed-in person's user id
   * @param {(text: string) => void} options.announce says something to screen readers
   */
  constructor({ live, sessionId, me, announce }) {
    this.live = live;
    this.sessionId = sessionId;
    this.me = me;
    this.announce = announce;
    this.$ = (id) => document.getElementById(id);

    /** People present, from the participants query: [{user_id, name, role}]. */
    this.people = [];
    /** The lines the server sends us: mid → {mid, user_id, name, kind, source}. */
    this.tracks = new Map();
    /** What arrived on them: mid → MediaStreamTrack. */
    this.received = new Map();
    /** Who sends what: user id → {microphone, camera}. */
    this.states = {};
    this.tiles = new Map();
    this.screens = new Map();
    this.audios = new Map();
    this.speaker = null;
    this.speakerSeen = 0;

    // My devices. The microphone starts on, the camera off.
    this.micWanted = true;
    this.micTrack = null;
    this.cameraTrack = null;
    this.screen = null;
    this.problems = new Map();

    this.pc = null;
    this.stopped = false;
    this.rejoins = 0;

    this.buttons = {
      microphone: this.$('media-mic'),
      camera: this.$('media-camera'),
      screen: this.$('media-screen'),
    };
    this.buttons.microphone.addEventListener('click', () => this.toggleMicrophone());
    this.buttons.camera.addEventListener('click', () => this.toggleCamera());
    this.buttons.screen.addEventListener('click', () => this.toggleScreen());
    this.$('media-sound').addEventListener('click', () => this.playAll());
    this.$('media-rejoin').addEventListener('click', () => {
      this.$('media-rejoin').hidden = true;
      this.showProblem('elsewhere', '');
      this.join();
    });
    this.showButtons();

    live.onMessage((message) => {
      if (message.session_id === this.sessionId && typeof message.type === 'string' && message.type.startsWith('media.')) {
        this.enqueue(() => this.receive(message));
      }
    });
    // Every (re)connection of the live socket joins again: the server lets
    // media go when the socket that joined it closes.
    live.onOpen(() => this.join());
    this.statsTimer = setInterval(() => this.watchLevels(), STATS_EVERY_MS);
    this.startMicrophone();

    window.lockinMedia = {
      stats: () => this.stats(),
      restartIce: () => this.restartIce(),
    };
  }

  /** Runs signalling steps one at a time, in the order the messages came. */
  enqueue(step) {
    this.queue = (this.queue || Promise.resolve()).then(step).catch((error) => {
      console.warn('media signalling step failed', error);
    });
    return this.queue;
  }

  // ---- Joining ------------------------------------------------------------------

  join() {
    if (this.stopped) return;
    if (!('RTCPeerConnection' in window)) {
      this.showProblem('browser', 'This browser cannot show video calls. You can still chat and follow the assistant.');
      return;
    }
    this.closePeer();
    // The ICE servers first: they go into the peer connection.
    this.live.send({ type: 'media.config', session_id: this.sessionId });
  }

  async connect(iceServers) {
    this.closePeer();
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.pc = pc;
    this.joined = false;
    this.makingOffer = false;
    this.own = new Map();
    this.micLine = pc.addTransceiver('audio', { direction: 'sendonly' });
    this.own.set(this.micLine, 'microphone');
    this.cameraLine = pc.addTransceiver('video', { direction: 'sendonly', sendEncodings: CAMERA_LAYERS });
    this.own.set(this.cameraLine, 'camera');
    this.screenLine = null;
    this.screenAudioLine = null;
    await this.micLine.sender.replaceTrack(this.micOn() ? this.micTrack : null);
    await this.cameraLine.sender.replaceTrack(this.cameraTrack);
    if (this.screen) this.attachScreen();

    pc.ontrack = (event) => {
      const mid = event.transceiver.mid;
      this.received.set(mid, event.track);
      event.track.addEventListener('ended', () => {
        if (this.received.get(mid) === event.track) {
          this.received.delete(mid);
          this.render();
        }
      });
      this.render();
    };
    pc.onnegotiationneeded = () => this.enqueue(() => this.offer(pc));
    pc.oniceconnectionstatechange = () => this.watchIce(pc);
    pc.onconnectionstatechange = () => {
      if (pc === this.pc && pc.connectionState === 'failed') this.rejoinSoon();
    };

    await pc.setLocalDescription();
    this.live.send({
      type: 'media.join',
      session_id: this.sessionId,
      offer: pc.localDescription.sdp,
      sources: this.sources(),
    });
  }

  /** Which of my lines carries what, by mid. */
  sources() {
    const sources = {};
    for (const [line, source] of this.own) {
      if (line.mid !== null) sources[line.mid] = source;
    }
    return sources;
  }

  closePeer() {
    clearTimeout(this.iceTimer);
    if (this.pc) {
      this.pc.ontrack = null;
      this.pc.onnegotiationneeded = null;
      this.pc.oniceconnectionstatechange = null;
      this.pc.onconnectionstatechange = null;
      this.pc.close();
    }
    this.pc = null;
    this.joined = false;
    this.tracks.clear();
    this.received.clear();
    this.render();
  }

  /** Lets go of everything: the session ended, or I am no longer in it. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.statsTimer);
    clearTimeout(this.rejoinTimer);
    this.live.send({ type: 'media.leave', session_id: this.sessionId });
    this.closePeer();
    for (const track of [this.micTrack, this.cameraTrack]) if (track) track.stop();
    if (this.screen) for (const track of this.screen.stream.getTracks()) track.stop();
    this.micTrack = null;
    this.cameraTrack = null;
    this.screen = null;
    // Nothing to switch on or off any more.
    this.problems.clear();
    this.showProblem('', '');
    this.$('media-buttons').hidden = true;
    this.showButtons();
    this.render();
  }

  rejoinSoon() {
    if (this.stopped) return;
    clearTimeout(this.rejoinTimer);
    const delay = REJOIN_DELAYS_MS[Math.min(this.rejoins, REJOIN_DELAYS_MS.length - 1)];
    this.rejoins += 1;
    this.rejoinTimer = setTimeout(() => {
      if (this.live.open) this.join();
    }, delay);
  }

  // ---- Signalling -----------------------------------------------------------------

  async receive(message) {
    const pc = this.pc;
    switch (message.type) {
      case 'media.config':
        if (this.stopped) return;
        try {
          await this.connect(message.ice_servers || []);
          this.showProblem('join', '');
        } catch (error) {
          // A broken ICE server setting, or a browser that refuses a call.
          this.closePeer();
          this.showProblem('join', `Audio and video could not start${error && error.message ? ` (${error.message})` : ''}. You can still chat.`);
        }
        break;
      case 'media.answer':
        if (!pc || pc.signalingState !== 'have-local-offer') return;
        await pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        if (!this.joined) {
          this.joined = true;
          this.rejoins = 0;
          this.sendState();
        }
        break;
      case 'media.offer': {
        if (!pc) return;
        // Impolite: while my own offer is out, the server's waits (it will offer again).
        if (this.makingOffer || pc.signalingState !== 'stable') return;
        await pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
        await pc.setLocalDescription();
        this.live.send({ type: 'media.answer', session_id: this.sessionId, sdp: pc.localDescription.sdp });
        break;
      }
      case 'media.tracks':
        this.tracks = new Map(message.tracks.map((track) => [track.mid, track]));
        for (const mid of [...this.received.keys()]) {
          if (!this.tracks.has(mid)) this.received.delete(mid);
        }
        this.render();
        break;
      case 'media.states':
        this.states = message.states || {};
        this.render();
        break;
      case 'media.closed':
        this.closed(message.reason);
        break;
      case 'media.error':
        this.refused(message.error || {});
        break;
      default:
    }
  }

  /** My renegotiation: a screen share started or stopped, or an ICE restart. */
  async offer(pc) {
    if (pc !== this.pc || !this.joined || pc.signalingState !== 'stable') return;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      this.live.send({
        type: 'media.offer',
        session_id: this.sessionId,
        sdp: pc.localDescription.sdp,
        sources: this.sources(),
      });
    } finally {
      this.makingOffer = false;
    }
  }

  closed(reason) {
    this.closePeer();
    if (reason === 'left' || reason === 'room_closed') return; // the room says why
    if (reason === 'replaced') {
      this.showProblem('elsewhere', 'Your audio and video moved to another window or tab.');
      this.$('media-rejoin').hidden = false;
      return;
    }
    // hangup, disconnected, failed: try again.
    this.rejoinSoon();
  }

  refused(error) {
    if (this.joined) {
      console.warn('media message refused', error);
      return;
    }
    this.closePeer();
    if (error.code === 'full') {
      this.showProblem('join', 'Audio and video are full for this session. You can still chat.');
    } else if (error.code === 'forbidden') {
      // Not (or no longer) joined: the room shows that itself.
    } else {
      this.rejoinSoon();
    }
  }

  watchIce(pc) {
    if (pc !== this.pc) return;
    const state = pc.iceConnectionState;
    clearTimeout(this.iceTimer);
    if (state === 'failed') {
      pc.restartIce();
    } else if (state === 'disconnected') {
      // Often back by itself within a moment; if not, new ICE credentials.
      this.iceTimer = setTimeout(() => {
        if (pc === this.pc && pc.iceConnectionState === 'disconnected') pc.restartIce();
      }, ICE_GRACE_MS);
    }
  }

  sendState() {
    if (!this.joined) return;
    this.live.send({
      type: 'media.state',
      session_id: this.sessionId,
      microphone: this.micOn(),
      camera: Boolean(this.cameraTrack),
    });
  }

  // ---- My devices --------------------------------------------------------------------

  micOn() {
    return Boolean(this.micTrack && this.micWanted);
  }

  async startMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.micWanted = false;
      this.showProblem('microphone', deviceProblem('microphone', null));
      this.showButtons();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      const track = stream.getAudioTracks()[0];
      if (this.stopped) {
        track.stop();
        return;
      }
      this.micTrack = track;
      track.addEventListener('ended', () => {
        if (this.micTrack !== track) return;
        this.micTrack = null;
        this.micWanted = false;
        this.showProblem('microphone', 'The microphone stopped (was it unplugged?). Press Microphone to try again.');
        this.useMicrophone();
      });
      this.showProblem('microphone', '');
    } catch (error) {
      if (this.stopped) return;
      this.micWanted = false;
      this.showProblem('microphone', deviceProblem('microphone', error));
    }
    this.useMicrophone();
  }

  useMicrophone() {
    if (this.micTrack) this.micTrack.enabled = this.micWanted;
    if (this.micLine) this.micLine.sender.replaceTrack(this.micOn() ? this.micTrack : null).catch(() => {});
    this.showButtons();
    this.sendState();
    this.render();
  }

  async toggleMicrophone() {
    if (this.micOn()) {
      this.micWanted = false;
      this.useMicrophone();
      this.announce('Microphone off.');
      return;
    }
    this.micWanted = true;
    if (!this.micTrack) await this.startMicrophone();
    else this.useMicrophone();
    if (this.micOn()) this.announce('Microphone on.');
  }

  async toggleCamera() {
    if (this.cameraTrack) {
      const track = this.cameraTrack;
      this.cameraTrack = null;
      track.stop();
      this.useCamera();
      this.announce('Camera off.');
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.showProblem('camera', deviceProblem('camera', null));
      return;
    }
    this.buttons.camera.disabled = true;
    try {
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: CAMERA });
      } catch (error) {
        if (error.name !== 'OverconstrainedError') throw error;
        stream = await navigator.mediaDevices.getUserMedia({ video: true });
      }
      const track = stream.getVideoTracks()[0];
      if (this.stopped) {
        track.stop();
        return;
      }
      track.contentHint = 'motion';
      this.cameraTrack = track;
      track.addEventListener('ended', () => {
        if (this.cameraTrack !== track) return;
        this.cameraTrack = null;
        this.showProblem('camera', 'The camera stopped (was it unplugged?). Press Camera to try again.');
        this.useCamera();
      });
      this.showProblem('camera', '');
      this.announce('Camera on.');
    } catch (error) {
      if (!this.stopped) this.showProblem('camera', deviceProblem('camera', error));
    } finally {
      this.buttons.camera.disabled = false;
    }
    if (!this.stopped) this.useCamera();
  }

  useCamera() {
    if (this.cameraLine) this.cameraLine.sender.replaceTrack(this.cameraTrack).catch(() => {});
    this.showButtons();
    this.sendState();
    this.render();
  }

  async toggleScreen() {
    if (this.screen) {
      this.stopScreen();
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      this.showProblem('screen', 'This browser cannot share a screen.');
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({
        video: { frameRate: { ideal: 15, max: 30 } },
        // The tab's or system's sound, where the browser offers it.
        audio: true,
      });
    } catch (error) {
      this.showProblem(
        'screen',
        error && error.name === 'NotAllowedError' ? 'Screen sharing was cancelled or is blocked.' : `The screen could not be shared${error && error.message ? ` (${error.message})` : ''}.`,
      );
      return;
    }
    if (this.stopped) {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    this.showProblem('screen', '');
    const video = stream.getVideoTracks()[0];
    const audio = stream.getAudioTracks()[0] || null;
    video.contentHint = 'detail';
    // The browser's own "Stop sharing" ends the track.
    video.addEventListener('ended', () => {
      if (this.screen && this.screen.video === video) this.stopScreen();
    });
    this.screen = { stream, video, audio };
    this.attachScreen();
    this.showButtons();
    this.render();
    this.announce('You are sharing your screen.');
  }

  /** Puts the screen share on lines of its own, reusing those of an earlier share. */
  attachScreen() {
    const pc = this.pc;
    if (!pc || !this.screen) return;
    const { stream, video, audio } = this.screen;
    const send = (line, track, source, kind) => {
      if (line && line.currentDirection !== 'stopped') {
        line.direction = 'sendonly';
        line.sender.replaceTrack(track).catch(() => {});
        return line;
      }
      const added = pc.addTransceiver(track || kind, { direction: 'sendonly', streams: [stream] });
      this.own.set(added, source);
      return added;
    };
    this.screenLine = send(this.screenLine, video, 'screen', 'video');
    if (audio) this.screenAudioLine = send(this.screenAudioLine, audio, 'screen_audio', 'audio');
  }

  stopScreen() {
    if (!this.screen) return;
    for (const track of this.screen.stream.getTracks()) track.stop();
    this.screen = null;
    for (const line of [this.screenLine, this.screenAudioLine]) {
      if (line && line.currentDirection !== 'stopped') {
        line.sender.replaceTrack(null).catch(() => {});
        // Inactive, not removed: the next share takes the same lines.
        line.direction = 'inactive';
      }
    }
    this.showButtons();
    this.render();
    this.announce('You stopped sharing your screen.');
  }

  showButtons() {
    const pressed = {
      microphone: this.micOn(),
      camera: Boolean(this.cameraTrack),
      screen: Boolean(this.screen),
    };
    for (const [name, button] of Object.entries(this.buttons)) {
      button.setAttribute('aria-pressed', String(pressed[name]));
    }
  }

  /** Shows (or with '' clears) one kind of problem next to the buttons. */
  showProblem(kind, text) {
    if (text) this.problems.set(kind, text);
    else this.problems.delete(kind);
    const list = this.$('media-problems');
    list.replaceChildren(...[...this.problems.values()].map((problem) => element('li', '', problem)));
    list.hidden = this.problems.size === 0;
  }

  // ---- The stage ------------------------------------------------------------------------

  /** The people present, from the participants query. */
  setPeople(people) {
    this.people = people;
    this.render();
  }

  /** The line carrying `source` of `userId`, if one has arrived. */
  trackOf(userId, source) {
    for (const [mid, info] of this.tracks) {
      if (info.user_id === userId && info.source === source) {
        const track = this.received.get(mid);
        if (track) return { mid, track };
      }
    }
    return null;
  }

  render() {
    const order = this.people.map((person) => ({ id: person.user_id, name: person.name, role: person.role }));
    const listed = new Set(order.map((person) => person.id));
    // Someone whose media arrived before the participants list: show them too.
    for (const info of this.tracks.values()) {
      if (!listed.has(info.user_id)) {
        listed.add(info.user_id);
        order.push({ id: info.user_id, name: info.name, role: 'participant' });
      }
    }
    this.drawTiles(order);
    this.drawScreens();
    this.drawAudio();
  }

  drawTiles(order) {
    const list = this.$('tiles');
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
    root.append(video, avatar, label);
    return { root, video, avatar, label, name, muted, badge: null, key: '' };
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

    let camera = null;
    let micOff;
    if (mine) {
      camera = this.cameraTrack;
      micOff = !this.stopped && !this.micOn();
    } else {
      const state = this.states[person.id];
      const line = this.trackOf(person.id, 'camera');
      camera = line && state && state.camera ? line.track : null;
      micOff = Boolean(state && !state.microphone);
    }
    showVideo(tile.video, camera);
    tile.root.classList.toggle('tile-has-video', Boolean(camera));
    tile.muted.hidden = !micOff;
    tile.root.classList.toggle('tile-speaking', this.speaker === person.id);
  }

  drawScreens() {
    const spotlight = this.$('spotlight');
    const shares = [];
    for (const info of this.tracks.values()) {
      if (info.source !== 'screen' || info.kind !== 'video') continue;
      const track = this.received.get(info.mid);
      if (track) shares.push({ key: info.mid, userId: info.user_id, name: info.name, track });
    }
    if (this.screen) shares.push({ key: 'mine', userId: this.me, name: null, track: null });
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
        spotlight.append(screen.root);
      }
      if (screen.video) showVideo(screen.video, share.track);
    }
    spotlight.hidden = shares.length === 0;
    this.$('stage').classList.toggle('stage-sharing', shares.length > 0);
  }

  makeScreen(share) {
    const root = element('figure', 'screen');
    root.dataset.userId = share.userId;
    if (share.key === 'mine') {
      root.classList.add('screen-mine');
      const note = element('p', 'screen-note', 'You are sharing your screen.');
      const stop = element('button', 'btn btn-secondary', 'Stop sharing');
      stop.type = 'button';
      stop.addEventListener('click', () => this.stopScreen());
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

  drawAudio() {
    const box = this.$('media-audio');
    const keep = new Set();
    for (const [mid, info] of this.tracks) {
      const track = this.received.get(mid);
      if (info.kind !== 'audio' || !track) continue;
      keep.add(mid);
      let audio = this.audios.get(mid);
      if (!audio) {
        audio = element('audio');
        audio.autoplay = true;
        this.audios.set(mid, audio);
        box.append(audio);
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
        this.$('media-sound').hidden = false;
      });
    }
  }

  playAll() {
    this.$('media-sound').hidden = true;
    for (const audio of this.audios.values()) this.play(audio);
  }

  // ---- Who speaks, and the debug view ------------------------------------------------------

  async watchLevels() {
    const pc = this.pc;
    if (!pc || document.hidden) return;
    let stats;
    try {
      stats = await pc.getStats();
    } catch {
      return;
    }
    let loudest = null;
    let level = SPEAKING_LEVEL;
    stats.forEach((report) => {
      let who = null;
      if (report.type === 'inbound-rtp' && report.kind === 'audio') {
        const info = this.tracks.get(report.mid);
        if (info && info.source === 'microphone') who = info.user_id;
      } else if (report.type === 'media-source' && report.kind === 'audio' && this.micOn()) {
        who = this.me;
      }
      if (who && typeof report.audioLevel === 'number' && report.audioLevel > level) {
        level = report.audioLevel;
        loudest = who;
      }
    });
    const now = performance.now();
    let speaker = this.speaker;
    if (loudest) {
      speaker = loudest;
      this.speakerSeen = now;
    } else if (now - this.speakerSeen > SPEAKER_HOLD_MS) {
      speaker = null;
    }
    if (speaker !== this.speaker) {
      this.speaker = speaker;
      for (const [id, tile] of this.tiles) tile.root.classList.toggle('tile-speaking', id === speaker);
    }
  }

  /** Restarts ICE now; resolves once new credentials are agreed with the server. */
  async restartIce() {
    const pc = this.pc;
    if (!pc || !this.joined) throw new Error('not in the media');
    const ufrag = () => (/^a=ice-ufrag:(.*)$/m.exec(pc.localDescription.sdp) || [])[1];
    const before = ufrag();
    pc.restartIce();
    await new Promise((resolve, reject) => {
      const check = () => {
        if (pc !== this.pc) reject(new Error('the connection was replaced'));
        else if (pc.signalingState === 'stable' && ufrag() !== before) resolve();
        else return;
        pc.removeEventListener('signalingstatechange', check);
      };
      pc.addEventListener('signalingstatechange', check);
    });
    return ufrag() !== before;
  }

  /** What this page receives, line by line: for tests and for a look in the console. Nothing secret. */
  async stats() {
    const pc = this.pc;
    const result = {
      connection: pc ? pc.connectionState : 'none',
      ice: pc ? pc.iceConnectionState : 'none',
      joined: Boolean(this.joined),
      speaker: this.speaker,
      received: [],
    };
    if (!pc) return result;
    const stats = await pc.getStats();
    stats.forEach((report) => {
      if (report.type !== 'inbound-rtp') return;
      const info = this.tracks.get(report.mid);
      if (!info) return;
      result.received.push({
        mid: report.mid,
        user_id: info.user_id,
        name: info.name,
        kind: info.kind,
        source: info.source,
        packetsReceived: report.packetsReceived || 0,
        framesDecoded: report.framesDecoded || 0,
        frameWidth: report.frameWidth || 0,
        frameHeight: report.frameHeight || 0,
        totalAudioEnergy: report.totalAudioEnergy || 0,
        totalSamplesReceived: report.totalSamplesReceived || 0,
        audioLevel: report.audioLevel || 0,
      });
    });
    return result;
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
