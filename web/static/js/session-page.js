// The page of a session you are not in: who is there and how many seats are
// left, live. When the session starts, fills up, frees a seat or ends, the
// page is drawn again, so its buttons always say what you can do now.

import { Live } from './live.js';

const page = document.getElementById('session-page');
const sessionId = page.dataset.sessionId;
const live = new Live();

live.subscribe(`session:${sessionId}`, (session) => {
  for (const seats of document.querySelectorAll('[data-seats]')) {
    seats.textContent = `${session.participant_count} of ${session.max_participants}`;
  }
  // Whether a seat is open is the server's rule, sent with the session.
  if (session.status !== page.dataset.status || String(session.open_for_joining) !== page.dataset.joinable) {
    // Drawn again without the one-time notice a form left in the address.
    location.replace(location.pathname);
  }
});

const people = document.getElementById('session-people');
if (people) {
  live.subscribe(`participants:${sessionId}`, (list) => {
    const present = list.filter((person) => person.status === 'joined');
    if (!present.length) {
      const empty = document.createElement('p');
      empty.className = 'empty';
      empty.textContent = 'No one is here right now.';
      people.replaceChildren(empty);
      return;
    }
    const items = present.map((person) => {
      const item = document.createElement('li');
      item.className = 'person';
      const avatar = document.createElement('span');
      avatar.className = 'avatar';
      avatar.setAttribute('aria-hidden', 'true');
      avatar.textContent = (person.name.trim()[0] || '?').toUpperCase();
      const name = document.createElement('span');
      name.className = 'person-name';
      name.textContent = person.name;
      item.append(avatar, name);
      if (person.role !== 'participant') {
        const badge = document.createElement('span');
        badge.className = 'badge badge-role';
        badge.textContent = person.role === 'host' ? 'Host' : 'AI agent';
        item.append(badge);
      }
      return item;
    });
    const list_ = document.createElement('ul');
    list_.className = 'people';
    list_.setAttribute('role', 'list');
    list_.append(...items);
    people.replaceChildren(list_);
  });
}
