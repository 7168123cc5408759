// Favourites in the room's People tab (docs/RITUAL.md, "Favourites"): a
// star toggle by everyone but the viewer and the assistant. A favourite's
// sessions come first on the home page, and scheduling one notifies the
// people who keep them. The server decides again; the toggle only shows
// what it said.

import { api, element, sentence } from './app.js';

export class Favourites {
  /**
   * @param {object} options
   * @param {string} options.me the signed-in person's user id
   * @param {(text: string, failed?: boolean) => void} options.tell says how a
   *   toggle went, next to the People list and to screen readers
   */
  constructor({ me, tell }) {
    this.me = me;
    this.tell = tell;
    /** The user ids I keep as favourites, from `GET /api/me/favourites`. */
    this.kept = new Set();
    this.load();
  }

  async load() {
    try {
      const favourites = await api('GET', '/api/me/favourites');
      this.kept = new Set(favourites.map((favourite) => favourite.user_id));
      for (const button of document.querySelectorAll('[data-favourite]')) this.show(button);
    } catch {
      // The stars then start empty; a click still asks the server.
    }
  }

  /** Adds the star toggle to a person's line in the People tab. */
  decorate(item, person) {
    if (person.user_id === this.me || person.role === 'agent') return;
    const button = element('button', 'btn btn-quiet btn-small favourite-toggle');
    button.type = 'button';
    button.dataset.favourite = person.user_id;
    button.dataset.name = person.name;
    button.setAttribute('aria-label', `Favourite ${person.name}`);
    button.addEventListener('click', () => this.toggle(button));
    this.show(button);
    item.append(button);
  }

  show(button) {
    const kept = this.kept.has(button.dataset.favourite);
    const star = element('span', null, kept ? '★' : '☆');
    star.setAttribute('aria-hidden', 'true');
    button.replaceChildren(star, ' Favourite');
    button.setAttribute('aria-pressed', String(kept));
  }

  async toggle(button) {
    const userId = button.dataset.favourite;
    const name = button.dataset.name;
    const marking = !this.kept.has(userId);
    button.disabled = true;
    try {
      await api(marking ? 'PUT' : 'DELETE', `/api/me/favourites/${userId}`);
      if (marking) this.kept.add(userId);
      else this.kept.delete(userId);
      for (const other of document.querySelectorAll(`[data-favourite="${userId}"]`)) this.show(other);
      this.tell(marking
        ? `${name} is one of your favourites: their sessions come first on your home page.`
        : `${name} is no longer one of your favourites.`);
    } catch (failure) {
      this.tell(sentence(failure.message), true);
    } finally {
      button.disabled = false;
    }
  }
}
