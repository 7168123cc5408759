// The room's one RTCPeerConnection to the server's SFU and the `media.*`
// messages over the live WebSocket that drive it (docs/MEDIA.md): joining,
// offers and answers, renegotiation, the server's refusals and closings,
// rejoining with backoff, ICE restarts, and `media.state` telling the others
// what I send. It holds what the stage draws from: which line is whose
// (`media.tracks`), what arrived on each, and who sends what (`media.states`).
//
// This page offers first (its offer joins) and is the impolite side of
// "perfect negotiation": it ignores a server offer while its own is out; the
// server gives way and offers again. Its own lines (microphone, camera,
// screen, screen audio) are send-only and carry what media-devices.js holds;
// it receives on the lines the server adds.

const ICE_GRACE_MS = 2500; // "disconnected" this long: restart ICE
const REJOIN_DELAYS_MS = [500, 1000, 2000, 5000, 10000];

// Smallest first, as the SFU expects until it has measured them.
const CAMERA_LAYERS = [
  { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'h', maxBitrate: 1500000 },
];

export class Signalling {
  /**
   * @param {object} options
   * @param {import('./live.js').Live} options.live the page's live connection
   * @param {string} options.sessionId
   * @param {import('./media-devices.js').Devices} options.devices what my lines carry
   * @param {import('./media-problems.js').Problems} options.problems where a failed join is explained
   * @param {() => void} options.onChange what is received, or whose it is, changed
   */
  constructor({ live, sessionId, devices, problems, onChange }) {
    this.live = live;
    this.sessionId = sessionId;
    this.devices = devices;
    this.problems = problems;
    this.onChange = onChange;

    /** The lines the server sends us: mid → {mid, user_id, name, kind, source}. */
    this.tracks = new Map();
    /** What arrived on them: mid → MediaStreamTrack. */
    this.received = new Map();
    /** Who sends what: user id → {microphone, camera}. */
    this.states = {};
    /** Who speaks now, loudest first, as the server hears it: user ids. */
    this.speakers = [];

    this.pc = null;
    this.stopped = false;
    this.rejoins = 0;

    this.rejoinButton = document.getElementById('media-rejoin');
    this.rejoinButton.addEventListener('click', () => {
      this.rejoinButton.hidden = true;
      this.problems.show('elsewhere', '');
      this.join();
    });
  }

  /** Listens for the `media.*` messages of this session, and joins with every (re)connection of the live socket. */
  start() {
    this.live.onMessage((message) => {
      if (message.session_id === this.sessionId && typeof message.type === 'string' && message.type.startsWith('media.')) {
        this.enqueue(() => this.receive(message));
      }
    });
    // The server lets media go when the socket that joined it closes.
    this.live.onOpen(() => this.join());
  }

  /** Runs signalling steps one at a time, in the order the messages came. */
  enqueue(step) {
    this.queue = (this.queue || Promise.resolve()).then(step).catch((error) => {
      console.warn('media signalling step failed', error);
    });
  }

  // ---- Joining ------------------------------------------------------------------

  join() {
    if (this.stopped) return;
    if (!('RTCPeerConnection' in window)) {
      this.problems.show('browser', 'This browser cannot show video calls. You can still chat and follow the assistant.');
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
    /** My lines: transceiver → the source it carries. */
    this.own = new Map();
    this.micLine = pc.addTransceiver('audio', { direction: 'sendonly' });
    this.own.set(this.micLine, 'microphone');
    this.cameraLine = pc.addTransceiver('video', { direction: 'sendonly', sendEncodings: CAMERA_LAYERS });
    this.own.set(this.cameraLine, 'camera');
    this.screenLine = null;
    this.screenAudioLine = null;
    await this.micLine.sender.replaceTrack(this.devices.micToSend());
    await this.cameraLine.sender.replaceTrack(this.devices.cameraTrack);
    if (this.devices.screen) this.attachScreen();

    pc.ontrack = (event) => {
      const mid = event.transceiver.mid;
      this.received.set(mid, event.track);
      event.track.addEventListener('ended', () => {
        if (this.received.get(mid) === event.track) {
          this.received.delete(mid);
          this.onChange();
        }
      });
      this.onChange();
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
    this.speakers = [];
    this.onChange();
  }

  /** Leaves the media for good: the session ended, or I am no longer in it. */
  stop() {
    this.stopped = true;
    clearTimeout(this.rejoinTimer);
    this.live.send({ type: 'media.leave', session_id: this.sessionId });
    this.closePeer();
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

  // ---- Messages -------------------------------------------------------------------

  async receive(message) {
    const pc = this.pc;
    switch (message.type) {
      case 'media.config':
        if (this.stopped) return;
        try {
          await this.connect(message.ice_servers || []);
          this.problems.show('join', '');
        } catch (error) {
          // A broken ICE server setting, or a browser that refuses a call.
          this.closePeer();
          this.problems.show('join', `Audio and video could not start${error && error.message ? ` (${error.message})` : ''}. You can still chat.`);
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
        this.onChange();
        break;
      case 'media.states':
        this.states = message.states || {};
        this.onChange();
        break;
      case 'media.speakers':
        this.speakers = message.user_ids || [];
        this.onChange();
        break;
      case 'media.held':
        // The host switched these off; the server forwards none of them
        // until this page turns them off and on again.
        this.devices.heldByHost(message.sources || [], Boolean(message.renewed));
        this.sendState();
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
    if (reason === 'left' || reason === 'room_closed' || reason === 'removed') return; // the room says why
    if (reason === 'replaced') {
      this.problems.show('elsewhere', 'Your audio and video moved to another window or tab.');
      this.rejoinButton.hidden = false;
      return;
    }
    // hangup, disconnected, failed, moved (the session's media went to
    // another server): try again.
    this.rejoinSoon();
  }

  refused(error) {
    if (this.joined) {
      console.warn('media message refused', error);
      return;
    }
    this.closePeer();
    if (error.code === 'full') {
      this.problems.show('join', 'Audio and video are full for this session. You can still chat.');
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

  // ---- What my lines carry -----------------------------------------------------------

  /** Puts the microphone's track (or none) on its line and tells the others. A track change, nothing to renegotiate. */
  sendMicrophone() {
    if (this.micLine) this.micLine.sender.replaceTrack(this.devices.micToSend()).catch(() => {});
    this.sendState();
  }

  /** Puts the camera's track (or none) on its line and tells the others. */
  sendCamera() {
    if (this.cameraLine) this.cameraLine.sender.replaceTrack(this.devices.cameraTrack).catch(() => {});
    this.sendState();
  }

  /** Follows a screen share that started (lines of its own) or stopped (those lines go inactive). */
  sendScreen() {
    if (this.devices.screen) this.attachScreen();
    else this.detachScreen();
    this.sendState();
  }

  /** Puts the screen share on lines of its own, reusing those of an earlier share. */
  attachScreen() {
    const pc = this.pc;
    if (!pc || !this.devices.screen) return;
    const { stream, video, audio } = this.devices.screen;
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

  detachScreen() {
    for (const line of [this.screenLine, this.screenAudioLine]) {
      if (line && line.currentDirection !== 'stopped') {
        line.sender.replaceTrack(null).catch(() => {});
        // Inactive, not removed: the next share takes the same lines.
        line.direction = 'inactive';
      }
    }
  }

  sendState() {
    if (!this.joined) return;
    this.live.send({
      type: 'media.state',
      session_id: this.sessionId,
      microphone: this.devices.micOn(),
      camera: Boolean(this.devices.cameraTrack),
      screen: Boolean(this.devices.screen),
    });
  }
}
