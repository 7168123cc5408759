// The host's controls in the room and everyone's reports and blocks
// (docs/RITUAL.md, "Host controls"). Each person in the People tab gets the
// buttons the viewer may use on them: the host Mute, Camera off, Stop share
// and Remove (confirmed in a dialog) for everyone else; everyone Report (a
// dialog with a reason and a note) and Block for everyone but themselves and
// the assistant. The host also gets Mute everyone and Lock room. The server
// decides every one of these again; the buttons only spare people a refusal.

import { api, element, sentence } from './app.js';

const HOST_ACTIONS = [
  { action: 'mute_microphone', label: 'Mute', done: (name) => `You muted ${name}.` },
  { action: 'turn_off_camera', label: 'Camera off', done: (name) => `You turned off ${name}'s camera.` },
  { action: 'stop_screen', label: 'Stop share', done: (name) => `You stopped ${name}'s screen share.` },
];

export class HostControls {
  /**
   * @param {object} options
   * @param {string} options.sessionId
   * @param {string} options.me the signed-in person's user id
   * @param {boolean} options.isHost whether the viewer hosts the session
   * @param {(text: string) => void} options.announce says something to screen readers
   * @param {() => void} options.onRemoved the viewer was removed by the host
   */
  constructor({ sessionId, me, isHost, announce, onRemoved }) {
    this.sessionId = sessionId;
    this.me = me;
    this.isHost = isHost;
    this.announce = announce;
    this.onRemoved = onRemoved;
    this.removed = false;
    /** The user ids I blocked, from `GET /api/blocks`. */
    this.blocked = new Set();
    this.status = document.getElementById('moderation-status');
    this.removeDialog = document.getElementById('remove-dialog');
    this.reportDialog = document.getElementById('report-dialog');
    this.lockButton = document.getElementById('lock-room');
    this.target = null;

    const muteAll = document.getElementById('mute-all');
    if (muteAll) muteAll.addEventListener('click', () => this.muteEveryone(muteAll));
    if (this.lockButton) this.lockButton.addEventListener('click', () => this.toggleLock());
    if (this.removeDialog) {
      this.removeDialog.querySelector('form').addEventListener('submit', (event) => {
        event.preventDefault();
        this.confirmRemove();
      });
    }
    this.reportDialog.querySelector('form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.sendReport();
    });
    this.loadBlocks();
  }

  async loadBlocks() {
    try {
      const blocks = await api('GET', '/api/blocks');
      this.blocked = new Set(blocks.map((block) => block.user_id));
      for (const button of document.querySelectorAll('[data-block]')) this.showBlock(button);
    } catch {
      // The buttons then start as "Block"; the server knows better anyway.
    }
  }

  /** Says how an action went, next to the People list and to screen readers. */
  tell(text, failed) {
    if (this.status) {
      this.status.textContent = text;
      this.status.hidden = !text;
      this.status.className = failed ? 'field-error' : 'hint';
    }
    if (text) this.announce(text);
  }

  /** Follows the session: whether the room is locked. */
  followSession(session) {
    if (!this.lockButton) return;
    this.locked = Boolean(session.locked);
    this.lockButton.setAttribute('aria-pressed', String(this.locked));
    this.lockButton.textContent = this.locked ? 'Unlock room' : 'Lock room';
    this.lockButton.disabled = session.status !== 'active';
  }

  /** Follows the people: true once the viewer has been removed (the room then says why). */
  followPeople(people) {
    const mine = people.find((person) => person.user_id === this.me);
    if (mine && mine.removed && !this.removed) {
      this.removed = true;
      for (const dialog of [this.removeDialog, this.reportDialog]) if (dialog && dialog.open) dialog.close();
      this.onRemoved();
    }
    return this.removed;
  }

  /** Adds to a person's line in the People tab the buttons the viewer may use on them. */
  decorate(item, person) {
    if (person.user_id === this.me || person.role === 'agent' || this.removed) return;
    const actions = element('div', 'person-actions');
    actions.setAttribute('role', 'group');
    actions.setAttribute('aria-label', `Actions for ${person.name}`);
    const joined = person.status === 'joined';
    if (this.isHost && joined && person.role === 'participant') {
      for (const { action, label, done } of HOST_ACTIONS) {
        const button = this.button(label, `${label} ${person.name}`);
        button.addEventListener('click', () => this.moderate(person, action, done(person.name), button));
        actions.append(button);
      }
      const remove = this.button('Remove', `Remove ${person.name}`);
      remove.classList.add('btn-danger-quiet');
      remove.addEventListener('click', () => this.askRemove(person));
      actions.append(remove);
    }
    const report = this.button('Report', `Report ${person.name}`);
    report.addEventListener('click', () => this.askReport(person));
    const block = this.button('Block', `Block ${person.name}`);
    block.dataset.block = person.user_id;
    block.dataset.name = person.name;
    block.addEventListener('click', () => this.toggleBlock(block));
    this.showBlock(block);
    actions.append(report, block);
    item.classList.add('person-has-actions');
    item.append(actions);
  }

  button(label, accessibleName) {
    const button = element('button', 'btn btn-quiet btn-small', label);
    button.type = 'button';
    button.setAttribute('aria-label', accessibleName);
    return button;
  }

  async moderate(person, action, done, button) {
    if (button) button.disabled = true;
    try {
      await api('POST', `/api/sessions/${this.sessionId}/participants/${person.user_id}/moderate`, { action });
      this.tell(done);
      return true;
    } catch (failure) {
      this.tell(sentence(failure.message), true);
      return false;
    } finally {
      if (button) button.disabled = false;
    }
  }

  askRemove(person) {
    this.target = person;
    this.removeDialog.querySelector('[data-name]').textContent = person.name;
    this.removeDialog.showModal();
    this.removeDialog.querySelector('button[type="submit"]').focus();
  }

  async confirmRemove() {
    const person = this.target;
    const submit = this.removeDialog.querySelector('button[type="submit"]');
    submit.disabled = true;
    const removed = await this.moderate(person, 'remove', `You removed ${person.name} from the session.`);
    submit.disabled = false;
    if (removed) this.removeDialog.close();
  }

  async muteEveryone(button) {
    button.disabled = true;
    try {
      const answer = await api('POST', `/api/sessions/${this.sessionId}/mute-all`);
      const count = answer.muted.length;
      this.tell(count === 0 ? 'Nobody else is here to mute.' : `You muted everyone (${count}).`);
    } catch (failure) {
      this.tell(sentence(failure.message), true);
    } finally {
      button.disabled = false;
    }
  }

  async toggleLock() {
    const locked = !this.locked;
    this.lockButton.disabled = true;
    try {
      const session = await api('POST', `/api/sessions/${this.sessionId}/lock`, { locked });
      this.followSession(session);
      this.tell(locked ? 'The room is locked: nobody new can join.' : 'The room is open again.');
    } catch (failure) {
      this.lockButton.disabled = false;
      this.tell(sentence(failure.message), true);
    }
  }

  askReport(person) {
    this.target = person;
    const dialog = this.reportDialog;
    dialog.querySelector('[data-name]').textContent = person.name;
    dialog.querySelector('form').reset();
    this.reportError('');
    dialog.showModal();
    dialog.querySelector('select').focus();
  }

  reportError(text) {
    const error = document.getElementById('report-error');
    error.textContent = text;
    error.hidden = !text;
  }

  async sendReport() {
    const dialog = this.reportDialog;
    const reason = dialog.querySelector('select').value;
    const note = dialog.querySelector('textarea').value;
    const max = Number(dialog.querySelector('textarea').dataset.maxChars);
    if ([...note.trim()].length > max) {
      this.reportError(`The note must be at most ${max} characters.`);
      return;
    }
    const submit = dialog.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await api('POST', `/api/sessions/${this.sessionId}/reports`, { user_id: this.target.user_id, reason, note });
      dialog.close();
      this.tell(`Thank you. Your report about ${this.target.name} was sent.`);
    } catch (failure) {
      this.reportError(sentence(failure.message));
    } finally {
      submit.disabled = false;
    }
  }

  showBlock(button) {
    const blocked = this.blocked.has(button.dataset.block);
    button.textContent = blocked ? 'Unblock' : 'Block';
    button.setAttribute('aria-pressed', String(blocked));
    button.setAttribute('aria-label', `${blocked ? 'Unblock' : 'Block'} ${button.dataset.name}`);
  }

  async toggleBlock(button) {
    const userId = button.dataset.block;
    const name = button.dataset.name;
    const blocking = !this.blocked.has(userId);
    button.disabled = true;
    try {
      await api(blocking ? 'PUT' : 'DELETE', `/api/blocks/${userId}`);
      if (blocking) this.blocked.add(userId);
      else this.blocked.delete(userId);
      for (const other of document.querySelectorAll(`[data-block="${userId}"]`)) this.showBlock(other);
      this.tell(blocking ? `You blocked ${name}: they cannot join sessions you host.` : `You unblocked ${name}.`);
    } catch (failure) {
      this.tell(sentence(failure.message), true);
    } finally {
      button.disabled = false;
    }
  }
}
