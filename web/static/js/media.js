// The room's audio, video and screen share (docs/MEDIA.md): what room.js
// sees of them, put together from one module per concern.
//
//   media-devices.js     my microphone, camera and screen share, and their buttons
//   media-signalling.js  the connection to the server's SFU and the `media.*` messages
//   media-stage.js       the tiles, the shared screens, everyone's sound, who speaks
//   media-problems.js    the notes on what does not work, next to the buttons
//
// A device that changes goes onto the connection, then the stage redraws;
// what the connection receives, the stage redraws. This class also keeps
// `window.lockinMedia`, the tests' and console's look inside.

import { Devices } from './media-devices.js';
import { Problems } from './media-problems.js';
import { Signalling } from './media-signalling.js';
import { Stage } from './media-stage.js';

export class Media {
  /**
   * @param {object} options
   * @param {import('./live.js').Live} options.live the page's live connection
   * @param {string} options.sessionId
   * @param {string} options.me the signed-in person's user id
   * @param {(text: string) => void} options.announce says something to screen readers
   */
  constructor({ live, sessionId, me, announce }) {
    this.stopped = false;
    this.problems = new Problems(document.getElementById('media-problems'));
    this.devices = new Devices({
      problems: this.problems,
      announce,
      onMicrophone: () => {
        this.signalling.sendMicrophone();
        this.stage.render();
      },
      onCamera: () => {
        this.signalling.sendCamera();
        this.stage.render();
      },
      onScreen: () => {
        this.signalling.sendScreen();
        this.stage.render();
      },
    });
    this.signalling = new Signalling({
      live,
      sessionId,
      devices: this.devices,
      problems: this.problems,
      onChange: () => this.stage.render(),
    });
    this.stage = new Stage({ me, signalling: this.signalling, devices: this.devices });

    // Only now that every part exists: joining draws the stage.
    this.signalling.start();
    this.devices.startMicrophone();

    window.lockinMedia = {
      stats: () => this.stats(),
      // The lines the server says it sends this page (its media.tracks).
      tracks: () => [...this.signalling.tracks.values()],
      restartIce: () => this.signalling.restartIce(),
    };
  }

  /** The people present, from the participants query. */
  setPeople(people) {
    this.stage.setPeople(people);
  }

  /** Lets go of everything: the session ended, or I am no longer in it. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.signalling.stop();
    this.devices.stop();
    this.problems.clear();
    this.stage.stop();
  }

  /** What this page receives, line by line: for tests and for a look in the console. Nothing secret. */
  async stats() {
    const pc = this.signalling.pc;
    const result = {
      connection: pc ? pc.connectionState : 'none',
      ice: pc ? pc.iceConnectionState : 'none',
      joined: Boolean(this.signalling.joined),
      speakers: [...this.signalling.speakers],
      received: [],
    };
    if (!pc) return result;
    const stats = await pc.getStats();
    stats.forEach((report) => {
      if (report.type !== 'inbound-rtp') return;
      const info = this.signalling.tracks.get(report.mid);
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
