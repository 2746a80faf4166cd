// The Tessera JSON API as the pages use it, plus small display helpers. Plain ES module, no dependencies.

/** The session's CSRF token: in memory only, never in storage a script on another page could read later. */
let csrfToken = null;

/** Remembers the CSRF token from a login or sign-up answer, or from GET /auth/csrf. */
function setCSRFToken(token) {
  csrfToken = token;
}

/** An API answer that was not a success; `code` is the docs/api.md error code. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfterSeconds) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Calls the API with the session cookie and, on anything but GET, the CSRF token.
 * Resolves to the JSON body (or null for 204); rejects with an {@link ApiError}.
 */
export async function request(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
  }
  if (response.status === 204) return null;
  const json = await response.json().catch(() => null);
  if (response.ok) return json;
  const retryAfter = Number(response.headers.get('retry-after'));
  throw new ApiError(
    response.status,
    json?.error?.code ?? 'unknown',
    json?.error?.message ?? `The server answered ${response.status}.`,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}

/**
 * Proves the password again (POST /auth/reauthenticate): the session moves to a new id, so the CSRF token
 * in the answer replaces the old one.
 */
export async function reauthenticate(password) {
  const answer = await request('POST', '/auth/reauthenticate', { password });
  setCSRFToken(answer.csrfToken);
}

/** Fetches a fresh CSRF token for the current session and keeps it. */
export async function refreshCSRFToken() {
  const answer = await request('GET', '/auth/csrf');
  setCSRFToken(answer.csrfToken);
}

/** "3 minutes", "45 seconds": a wait, rounded up, in the reader's language where Intl knows it. */
export function formatWait(seconds) {
  const minutes = Math.ceil(seconds / 60);
  const [value, unit] = seconds >= 90 ? [minutes, 'minute'] : [Math.ceil(seconds), 'second'];
  return new Intl.NumberFormat(undefined, { style: 'unit', unit, unitDisplay: 'long' }).format(value);
}

/** A sentence for a person from an API error; the server's own message when it is the most precise one. */
export function describeError(error) {
  switch (error.code) {
    case 'invalid_credentials':
      return 'That email and password do not match. Check them and try again.';
    case 'rate_limited':
      return error.retryAfterSeconds === undefined
        ? error.message
        : `Too many attempts. Try again in ${formatWait(error.retryAfterSeconds)}.`;
    case 'conflict':
      return 'An account with this email already exists. Sign in instead.';
    case 'reauth_required':
      return 'For your safety, confirm your password to do this.';
    case 'csrf_failed':
      return 'The request was refused for your safety. Reload the page and try again.';
    case 'invalid_request':
      // The server names the field first (`"password": Use at least 8 characters.`): people need only the rule.
      return error.message.replace(/^"[^"]+":\s*/, '');
    default:
      return error.message;
  }
}

/** True for an answer meaning "this browser is not signed in (any more)"; a wrong password is not that. */
export function isSignedOut(error) {
  return error instanceof ApiError && error.status === 401 && error.code !== 'invalid_credentials';
}

/** Goes to the sign-in page, saying why. */
export function goToSignIn(reason = 'ended') {
  window.location.replace(`/?notice=${reason}`);
}

const BROWSERS = [
  ['Edge', /Edg(?:e|A|iOS)?\/(\d+)/],
  ['Opera', /(?:OPR|OPiOS)\/(\d+)/],
  ['Samsung Internet', /SamsungBrowser\/(\d+)/],
  ['Firefox', /(?:Firefox|FxiOS)\/(\d+)/],
  ['Chrome', /(?:HeadlessChrome|Chrome|CriOS)\/(\d+)/],
  ['Safari', /Version\/(\d+)(?:\.\d+)*.*Safari\//],
];

const OPERATING_SYSTEMS = [
  ['iPadOS', /iPad.*? OS (\d+)/],
  ['iOS', /iPhone.*? OS (\d+)/],
  ['Android', /Android (\d+)/],
  ['ChromeOS', /CrOS/],
  ['Windows', /Windows NT/],
  ['macOS', /Mac OS X/],
  ['Linux', /Linux|X11/],
];

/**
 * "Chrome 126 on Windows", "Safari 17 on iOS 17": a readable name for a user agent
 * string. Deliberately small: the major browsers and systems, the rest by product token.
 */
export function describeUserAgent(userAgent) {
  if (typeof userAgent !== 'string' || userAgent.trim() === '') return 'Unknown device';
  const browser = BROWSERS.map(([name, pattern]) => [name, pattern.exec(userAgent)]).find(([, match]) => match);
  const system = OPERATING_SYSTEMS.map(([name, pattern]) => [name, pattern.exec(userAgent)]).find(([, match]) => match);
  // Anything else (curl, a script) by its leading product token: "curl 8.5", "node".
  const product = /^([\w.-]{1,40})(?:\/(\d+(?:\.\d+)?))?/.exec(userAgent.trim());
  const browserName = browser
    ? `${browser[0]} ${browser[1][1]}`
    : product
      ? [product[1], product[2]].filter(Boolean).join(' ')
      : 'Unknown browser';
  if (!system) return browserName;
  const version = system[1][1] === undefined ? '' : ` ${system[1][1]}`;
  return `${browserName} on ${system[0]}${version}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'long' });

/** A `<time>` element showing an ISO instant in the reader's locale and time zone (`withTime: false`: the day only). */
export function timeElement(iso, { withTime = true } = {}) {
  const element = document.createElement('time');
  element.dateTime = iso;
  element.textContent = (withTime ? dateTime : dateOnly).format(new Date(iso));
  return element;
}
