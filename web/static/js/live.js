// The live-query client of /api/live (docs/LIVE.md): one WebSocket per page,
// subscriptions by query name, each answered with its full result now and
// after every change. It reconnects by itself and subscribes again, which
// also resends every current result, so a page never needs a reload.
// Other messages on the same socket (the `media.*` signalling of
// docs/MEDIA.md) go to whoever listens with `onMessage`.

// The close code of a connection whose sign-in ended (docs/LIVE.md).
const SIGNED_OUT = 4401;

const status = () => document.getElementById('connection-status');

function showConnection(message) {
  const element = status();
  if (!element) return;
  element.textContent = message || '';
  element.hidden = !message;
}

export class Live {
  constructor() {
    this.subscriptions = new Map();
    this.listeners = new Set();
    this.openListeners = new Set();
    this.nextId = 1;
    this.failures = 0;
    this.leaving = false;
    // Navigating away closes the socket: that is not a lost connection.
    window.addEventListener('pagehide', () => {
      this.leaving = true;
    });
    this.connect();
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}/api/live`);
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.failures = 0;
      showConnection('');
      for (const [id, subscription] of this.subscriptions) {
        this.send({ type: 'subscribe', id, query: subscription.query });
      }
      for (const listener of this.openListeners) listener();
    });
    socket.addEventListener('message', (event) => this.receive(event.data));
    socket.addEventListener('close', (event) => {
      if (this.leaving) return;
      // Signed out (here or in another tab): sign in again rather than reconnect.
      if (event.code === SIGNED_OUT) {
        location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
        return;
      }
      this.failures += 1;
      if (this.failures > 1) showConnection('Connection lost. Reconnecting…');
      const delay = Math.min(10000, 250 * 2 ** Math.min(this.failures, 6));
      setTimeout(() => this.connect(), this.failures === 1 ? 100 : delay);
    });
  }

  /** Whether the socket is open now: what is sent while it is not is lost. */
  get open() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  /** Sends one message; false when the socket is not open (nothing was sent). */
  send(message) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Calls `listener(message)` with every message that is not a query's result or error. */
  onMessage(listener) {
    this.listeners.add(listener);
  }

  /** Calls `listener()` each time the socket opens (again), and now if it is open. */
  onOpen(listener) {
    this.openListeners.add(listener);
    if (this.open) listener();
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const subscription = message.id === undefined ? undefined : this.subscriptions.get(message.id);
    if (!subscription) {
      if (message.type !== 'result' && message.type !== 'error') {
        for (const listener of this.listeners) listener(message);
      }
      return;
    }
    if (message.type === 'result') {
      subscription.onResult(message.data, message.version);
    } else if (message.type === 'error' && subscription.onError) {
      subscription.onError(message.error);
    }
  }

  /** Calls `onResult(data, version)` with the query's result now and after each change; returns an unsubscribe function. */
  subscribe(query, onResult, onError) {
    const id = `q${this.nextId++}`;
    this.subscriptions.set(id, { query, onResult, onError });
    this.send({ type: 'subscribe', id, query });
    return () => {
      this.subscriptions.delete(id);
      this.send({ type: 'unsubscribe', id });
    };
  }
}
