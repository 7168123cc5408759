// My microphone, camera and screen share: capturing them, switching them on
// and off with their buttons, and noticing when one goes away
// (unplugged, or the browser's own "Stop sharing"). A device that fails (none,
// blocked, busy, no https) is explained in words a person can act on; the
// room works without it. The microphone starts on, the camera off.
//
// Nothing here touches the connection: after each change it calls back, and
// the signalling puts the tracks on their lines (docs/MEDIA.md).

const CAMERA = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 24, max: 30 },
};

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

export class Devices {
  /**
   * @param {object} options
   * @param {import('./media-problems.js').Problems} options.problems where a failing device is explained
   * @param {(text: string) => void} options.announce says something to screen readers
   * @param {() => void} options.onMicrophone the microphone went on or off, or was lost
   * @param {() => void} options.onCamera the camera went on or off, or was lost
   * @param {() => void} options.onScreen a screen share started or stopped
   */
  constructor({ problems, announce, onMicrophone, onCamera, onScreen }) {
    this.problems = problems;
    this.announce = announce;
    this.onMicrophone = onMicrophone;
    this.onCamera = onCamera;
    this.onScreen = onScreen;

    // What the person asked for: a microphone switched off keeps its track
    // (disabled), so switching it back on needs no new permission.
    this.micWanted = true;
    this.micTrack = null;
    this.cameraTrack = null;
    /** The screen share: {stream, video, audio}, audio being null when the browser gives no sound. */
    this.screen = null;
    this.stopped = false;

    this.buttonGroup = document.getElementById('media-buttons');
    this.buttons = {
      microphone: document.getElementById('media-mic'),
      camera: document.getElementById('media-camera'),
      screen: document.getElementById('media-screen'),
    };
    this.buttons.microphone.addEventListener('click', () => this.toggleMicrophone());
    this.buttons.camera.addEventListener('click', () => this.toggleCamera());
    this.buttons.screen.addEventListener('click', () => this.toggleScreen());
    this.showButtons();
  }

  micOn() {
    return Boolean(this.micTrack && this.micWanted);
  }

  /** What the microphone line carries: the microphone while it is on, else nothing. */
  micToSend() {
    return this.micOn() ? this.micTrack : null;
  }

  /** Whether my tile shows the microphone-off mark: off, and still in the media. */
  micMarkedOff() {
    return !this.stopped && !this.micOn();
  }

  // ---- Microphone --------------------------------------------------------------------

  async startMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.micWanted = false;
      this.problems.show('microphone', deviceProblem('microphone', null));
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
        this.problems.show('microphone', 'The microphone stopped (was it unplugged?). Press Microphone to try again.');
        this.useMicrophone();
      });
      this.problems.show('microphone', '');
    } catch (error) {
      if (this.stopped) return;
      this.micWanted = false;
      this.problems.show('microphone', deviceProblem('microphone', error));
    }
    this.useMicrophone();
  }

  useMicrophone() {
    if (this.micTrack) this.micTrack.enabled = this.micWanted;
    this.showButtons();
    this.onMicrophone();
  }

  async toggleMicrophone() {
    if (this.micOn()) {
      this.micWanted = false;
      this.useMicrophone();
      this.announce('Microphone off.');
      return;
    }
    this.micWanted = true;
    this.problems.show('host', '');
    if (!this.micTrack) await this.startMicrophone();
    else this.useMicrophone();
    if (this.micOn()) this.announce('Microphone on.');
  }

  // ---- Camera ------------------------------------------------------------------------

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
      this.problems.show('camera', deviceProblem('camera', null));
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
        this.problems.show('camera', 'The camera stopped (was it unplugged?). Press Camera to try again.');
        this.useCamera();
      });
      this.problems.show('camera', '');
      this.announce('Camera on.');
    } catch (error) {
      if (!this.stopped) this.problems.show('camera', deviceProblem('camera', error));
    } finally {
      this.buttons.camera.disabled = false;
    }
    if (!this.stopped) this.useCamera();
  }

  useCamera() {
    this.showButtons();
    this.onCamera();
  }

  // ---- Screen share ------------------------------------------------------------------

  async toggleScreen() {
    if (this.screen) {
      this.stopScreen();
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      this.problems.show('screen', 'This browser cannot share a screen.');
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
      this.problems.show(
        'screen',
        error && error.name === 'NotAllowedError' ? 'Screen sharing was cancelled or is blocked.' : `The screen could not be shared${error && error.message ? ` (${error.message})` : ''}.`,
      );
      return;
    }
    if (this.stopped) {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    this.problems.show('screen', '');
    const video = stream.getVideoTracks()[0];
    const audio = stream.getAudioTracks()[0] || null;
    video.contentHint = 'detail';
    // The browser's own "Stop sharing" ends the track.
    video.addEventListener('ended', () => {
      if (this.screen && this.screen.video === video) this.stopScreen();
    });
    this.screen = { stream, video, audio };
    this.showButtons();
    this.onScreen();
    this.announce('You are sharing your screen.');
  }

  stopScreen() {
    if (!this.screen) return;
    for (const track of this.screen.stream.getTracks()) track.stop();
    this.screen = null;
    this.showButtons();
    this.onScreen();
    this.announce('You stopped sharing your screen.');
  }

  // ---- The host's controls -----------------------------------------------------------

  /**
   * The host switched some of my sources off (`media.held`): they go off
   * here too, and the person is told. Turning them on again is up to them.
   * A `renewed` hold (made before this page joined media again) is told
   * only where it switched something off: most often it finds it off. A
   * microphone still being opened counts as on: it opens switched off.
   */
  heldByHost(sources, renewed = false) {
    const said = [];
    if (sources.includes('microphone') && (!renewed || this.micWanted)) {
      said.push('muted your microphone');
      if (this.micWanted) {
        this.micWanted = false;
        this.useMicrophone();
      }
    }
    if (sources.includes('camera') && (!renewed || this.cameraTrack)) {
      said.push('turned off your camera');
      if (this.cameraTrack) {
        const track = this.cameraTrack;
        this.cameraTrack = null;
        track.stop();
        this.useCamera();
      }
    }
    if (sources.includes('screen') && (!renewed || this.screen)) {
      said.push('stopped your screen share');
      this.stopScreen();
    }
    if (!said.length) return;
    const text = `The host ${said.join(' and ')}. You can turn it on again yourself.`;
    this.problems.show('host', text);
    this.announce(text);
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

  /** Lets go of every device for good and hides the buttons: nothing is left to switch on or off. */
  stop() {
    this.stopped = true;
    for (const track of [this.micTrack, this.cameraTrack]) if (track) track.stop();
    if (this.screen) for (const track of this.screen.stream.getTracks()) track.stop();
    this.micTrack = null;
    this.cameraTrack = null;
    this.screen = null;
    this.buttonGroup.hidden = true;
    this.showButtons();
  }
}
