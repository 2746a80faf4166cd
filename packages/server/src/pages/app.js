// The behaviour of the two pages: `/` (sign in, sign up) and `/account`. Picked by <body data-page>.
import {
  describeError,
  describeUserAgent,
  goToSignIn,
  isSignedOut,
  reauthenticate,
  refreshCSRFToken,
  request,
  timeElement,
} from './api.js';

const PASSWORD_MIN_LENGTH = 8;

const byId = (id) => document.getElementById(id);

/** Shows a form's error (read out by its live region) and points the relevant field at it. */
function showFormError(form, message, field) {
  const box = form.querySelector('.form-error');
  box.textContent = message;
  for (const input of form.querySelectorAll('input')) input.removeAttribute('aria-invalid');
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

function clearFormError(form) {
  showFormError(form, '');
}

/**
 * Enables the submit buttons, which the HTML ships disabled: before this script runs, Enter must not
 * submit a form natively (that would send the password to the wrong place), so nothing happens instead.
 */
function enableForms() {
  for (const button of document.querySelectorAll('form button[type="submit"]')) button.disabled = false;
}

/** Disables a form's submit button while its request runs, so Enter twice does not send twice. */
function setBusy(form, busy) {
  const button = form.querySelector('button[type="submit"]');
  button.disabled = busy;
  form.setAttribute('aria-busy', String(busy));
}

/** Shows a page-level status line (polite live region); `tone` is `ok` or `error`. */
function showStatus(message, tone = 'ok') {
  const status = byId('status');
  status.dataset.tone = tone;
  status.textContent = message;
}

// ─── `/`: sign in and sign up ────────────────────────────────────────────────

const NOTICES = {
  ended: 'Your session has ended. Please sign in again.',
  'signed-out': 'You have signed out.',
  'account-deleted': 'Your account was deleted.',
};

function initSignIn() {
  const panels = { 'sign-in': byId('sign-in-panel'), 'sign-up': byId('sign-up-panel') };
  const show = (name, moveFocus) => {
    for (const [key, panel] of Object.entries(panels)) panel.hidden = key !== name;
    document.title = `${name === 'sign-in' ? 'Sign in' : 'Create an account'} · Tessera`;
    if (moveFocus) panels[name].querySelector('input').focus();
  };
  for (const button of document.querySelectorAll('[data-show]')) {
    button.addEventListener('click', () => {
      show(button.dataset.show, true);
      history.replaceState(null, '', button.dataset.show === 'sign-up' ? '#sign-up' : '/');
    });
  }
  show(location.hash === '#sign-up' ? 'sign-up' : 'sign-in', false);

  const reason = new URLSearchParams(location.search).get('notice');
  if (reason !== null && Object.hasOwn(NOTICES, reason)) {
    showStatus(NOTICES[reason]);
    history.replaceState(null, '', location.pathname + location.hash);
  }

  const submitCredentials = (form, path, checkPolicy) => {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const { email, password } = form.elements;
      if (!email.value.includes('@')) return showFormError(form, 'Enter your email address.', email);
      if (password.value === '') return showFormError(form, 'Enter your password.', password);
      if (checkPolicy && [...password.value].length < PASSWORD_MIN_LENGTH) {
        return showFormError(form, `Use at least ${PASSWORD_MIN_LENGTH} characters for your password.`, password);
      }
      clearFormError(form);
      setBusy(form, true);
      try {
        // The answer carries the new session's CSRF token, but /account is a new document with empty memory:
        // it asks GET /auth/csrf. The token is never parked in storage to bridge the navigation.
        const body = { email: email.value.trim(), password: password.value };
        // "Keep me signed in" unchecked: a cookie that ends with the browser, on a shorter session.
        if (form.elements.remember !== undefined) body.remember = form.elements.remember.checked;
        await request('POST', path, body);
        window.location.assign('/account');
      } catch (error) {
        setBusy(form, false);
        const field = {
          invalid_request: /email/i.test(error.message) ? email : password,
          conflict: email,
          invalid_credentials: password,
        }[error.code];
        showFormError(form, describeError(error), field);
        if (error.code === 'invalid_credentials') password.select();
      }
    });
  };
  submitCredentials(byId('sign-in-form'), '/auth/login', false);
  submitCredentials(byId('sign-up-form'), '/auth/signup', true);
}

// ─── `/account`: who you are, where you are signed in, password ─────────────

/** Runs an account action; a 401 means this browser was signed out elsewhere: back to sign-in. */
async function guarded(action, onError) {
  try {
    return await action();
  } catch (error) {
    if (isSignedOut(error)) return goToSignIn();
    if (onError) return onError(error);
    showStatus(describeError(error), 'error');
  }
}

const SVG = 'http://www.w3.org/2000/svg';

/** A phone or a laptop outline, decorative (the text says what the device is). */
function deviceIcon(mobile) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute(
    'd',
    mobile
      ? 'M8 2.5h8a1.5 1.5 0 0 1 1.5 1.5v16a1.5 1.5 0 0 1-1.5 1.5H8A1.5 1.5 0 0 1 6.5 20V4A1.5 1.5 0 0 1 8 2.5Zm3 16h2'
      : 'M4.5 5.5A1.5 1.5 0 0 1 6 4h12a1.5 1.5 0 0 1 1.5 1.5V15h-15Zm-2 9.5h19v1.5A1.5 1.5 0 0 1 20 18H4a1.5 1.5 0 0 1-1.5-1.5Z',
  );
  svg.append(path);
  return svg;
}

function sessionItem(session, onRevoke) {
  const device = describeUserAgent(session.userAgent);
  const item = document.createElement('li');
  item.className = 'session';
  item.dataset.sessionId = session.id;
  const icon = document.createElement('div');
  icon.className = 'session-icon';
  icon.append(deviceIcon(/Android|iOS|iPadOS/.test(device)));

  const body = document.createElement('div');
  body.className = 'session-body';
  const title = document.createElement('p');
  title.className = 'session-device';
  title.textContent = device;
  const badge = (className, text, description) => {
    const element = document.createElement('span');
    element.className = className;
    element.textContent = text;
    if (description) element.title = description;
    title.append(' ', element);
  };
  if (session.current) badge('badge', 'This device');
  // Signed in less than a day ago from a browser that had not signed in to this account before.
  if (session.newDevice) badge('badge badge-new', 'New device', 'First sign-in from this device, less than a day ago');
  // Each fact in its own span, so that a narrow screen can stack them rather than break a date in two.
  const span = (className, ...parts) => {
    const element = document.createElement('span');
    element.className = className;
    element.append(...parts);
    return element;
  };
  const meta = document.createElement('p');
  meta.className = 'session-meta';
  const lastActive = session.current ? ['Active now'] : ['Last active ', timeElement(session.lastSeenAt)];
  meta.append(
    span('fact', `Latest IP ${session.ip ?? 'unknown'}`),
    span('separator', ' · '),
    span('fact', ...lastActive),
  );
  // Where it signed in, beside where it was last seen (the line above): a session that moved shows both.
  const origin = document.createElement('p');
  origin.className = 'session-meta session-origin';
  origin.append(
    span('fact', 'Signed in ', timeElement(session.createdAt)),
    span('separator', ' · '),
    span('fact', `from ${describeUserAgent(session.signInUserAgent)}`),
    span('separator', ' · '),
    span('fact', `IP ${session.signInIp ?? 'unknown'}`),
  );
  body.append(title, meta, origin);
  item.append(icon, body);

  if (!session.current) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'button secondary small';
    button.textContent = 'Sign out';
    const lastSeen = meta.lastChild.querySelector('time').textContent;
    button.setAttribute('aria-label', `Sign out ${device}, last active ${lastSeen}`);
    button.addEventListener('click', () => onRevoke(session, device, button));
    item.append(button);
  }
  return item;
}

/**
 * The inline "confirm it's you" form: `ask()` shows it and resolves `true` once the password was proved
 * (POST /auth/reauthenticate, which also renews the CSRF token), `false` when the person cancels. A wrong
 * password is shown in the form, which stays open.
 */
function createReauthPrompt() {
  const panel = byId('reauth-panel');
  const form = byId('reauth-form');
  const { password } = form.elements;
  let settle = null;
  const close = (proved) => {
    panel.hidden = true;
    form.reset();
    clearFormError(form);
    settle?.(proved);
    settle = null;
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (password.value === '') return showFormError(form, 'Enter your password.', password);
    clearFormError(form);
    setBusy(form, true);
    try {
      await reauthenticate(password.value);
      close(true);
    } catch (error) {
      if (isSignedOut(error)) return goToSignIn();
      const message =
        error.code === 'invalid_credentials' ? 'That password is not correct. Try again.' : describeError(error);
      showFormError(form, message, password);
      password.select();
    } finally {
      setBusy(form, false);
    }
  });
  byId('reauth-cancel').addEventListener('click', () => close(false));
  return {
    setUsername: (email) => {
      form.elements.username.value = email;
    },
    ask: () =>
      new Promise((resolve) => {
        settle?.(false);
        settle = resolve;
        panel.hidden = false;
        password.focus();
      }),
  };
}

function initAccount() {
  const reauth = createReauthPrompt();
  /** Runs a sensitive action; when the sign-in is too old for it, asks for the password inline and retries once. */
  const withRecentSignIn = async (action) => {
    try {
      return await action();
    } catch (error) {
      if (error.code !== 'reauth_required') throw error;
      showStatus(describeError(error));
      if (!(await reauth.ask())) return showStatus('');
      return action();
    }
  };
  const list = byId('sessions');
  const revokeOthers = byId('revoke-others');
  const sessionsHeading = byId('sessions-title');

  const renderSessions = async () => {
    const { sessions } = await request('GET', '/auth/sessions');
    sessions.sort((a, b) => Number(b.current) - Number(a.current) || b.lastSeenAt.localeCompare(a.lastSeenAt));
    list.replaceChildren(...sessions.map((session) => sessionItem(session, revoke)));
    byId('sessions-count').textContent =
      sessions.length === 1 ? 'Only this device.' : `${sessions.length} devices, including this one.`;
    revokeOthers.hidden = sessions.length < 2;
  };

  const revoke = (session, device, button) =>
    guarded(async () => {
      button.disabled = true;
      const signedOut = await withRecentSignIn(() =>
        request('DELETE', `/auth/sessions/${encodeURIComponent(session.id)}`),
      );
      if (signedOut === undefined) return;
      await renderSessions();
      sessionsHeading.focus();
      showStatus(`Signed out ${device}.`);
    }).finally(() => {
      button.disabled = false;
    });

  revokeOthers.addEventListener('click', () =>
    guarded(async () => {
      revokeOthers.disabled = true;
      const signedOut = await withRecentSignIn(() => request('DELETE', '/auth/sessions'));
      if (signedOut === undefined) return;
      await renderSessions();
      sessionsHeading.focus();
      showStatus('Signed out everywhere else. Only this device is still signed in.');
    }).finally(() => {
      revokeOthers.disabled = false;
    }),
  );

  byId('sign-out').addEventListener('click', () =>
    guarded(async () => {
      await request('POST', '/auth/logout');
      goToSignIn('signed-out');
    }),
  );

  const form = byId('password-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const { currentPassword, newPassword } = form.elements;
    if (currentPassword.value === '') return showFormError(form, 'Enter your current password.', currentPassword);
    if ([...newPassword.value].length < PASSWORD_MIN_LENGTH) {
      return showFormError(form, `Use at least ${PASSWORD_MIN_LENGTH} characters for your new password.`, newPassword);
    }
    clearFormError(form);
    setBusy(form, true);
    await guarded(
      async () => {
        await request('POST', '/auth/password', {
          currentPassword: currentPassword.value,
          newPassword: newPassword.value,
        });
        // The change gave this session a new id, and the CSRF token is bound to it.
        await refreshCSRFToken();
        form.reset();
        await renderSessions();
        showStatus('Password changed. Every other device was signed out.');
      },
      (error) => {
        const wrongPassword = error.code === 'invalid_credentials' || error.code === 'reauth_required';
        const field = wrongPassword ? currentPassword : error.code === 'invalid_request' ? newPassword : null;
        showFormError(form, wrongPassword ? 'Your current password is not correct.' : describeError(error), field);
      },
    );
    setBusy(form, false);
  });

  initDeleteAccount(withRecentSignIn);

  guarded(async () => {
    const [{ user }] = await Promise.all([request('GET', '/auth/me'), refreshCSRFToken()]);
    byId('user-email').textContent = user.email;
    byId('header-email').textContent = user.email;
    form.elements.username.value = user.email;
    reauth.setUsername(user.email);
    byId('user-since').replaceChildren(timeElement(user.createdAt, { withTime: false }));
    await renderSessions();
    byId('delete-account').disabled = false;
    document.querySelector('main').setAttribute('aria-busy', 'false');
  });
}

/**
 * "Delete my account": a confirm step in the page, then DELETE /auth/account (asking for the password first when
 * the sign-in is too old) and the sign-in page.
 */
function initDeleteAccount(withRecentSignIn) {
  const start = byId('delete-account');
  const confirmation = byId('delete-confirm');
  const confirm = byId('delete-account-confirm');
  const showConfirmation = (shown) => {
    confirmation.hidden = !shown;
    start.hidden = shown;
    (shown ? byId('delete-account-cancel') : start).focus();
  };
  start.addEventListener('click', () => showConfirmation(true));
  byId('delete-account-cancel').addEventListener('click', () => showConfirmation(false));
  confirm.addEventListener('click', () =>
    guarded(async () => {
      confirm.disabled = true;
      const deleted = await withRecentSignIn(() => request('DELETE', '/auth/account'));
      if (deleted === undefined) return;
      goToSignIn('account-deleted');
    }).finally(() => {
      confirm.disabled = false;
    }),
  );
}

if (document.body.dataset.page === 'account') initAccount();
else initSignIn();
enableForms();
