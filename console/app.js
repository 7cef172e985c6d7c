// The console's entry: login, the page switcher (#sessions, #agents, #audit, #probes), logout.
import { ApiError, login, logout, setLoggedOutHandler, whoAmI } from './api.js';
import { agentsPage } from './agents.js';
import { auditPage } from './audit.js';
import { say } from './dom.js';
import { probesPage } from './probes.js';
import { sessionsPage } from './sessions.js';

const PAGES = { sessions: sessionsPage, agents: agentsPage, audit: auditPage, probes: probesPage };
const $ = (id) => document.getElementById(id);
let leave = () => {};

function show(loggedIn) {
  $('login').hidden = loggedIn;
  $('nav').hidden = !loggedIn;
  $('who').hidden = !loggedIn;
  $('who-name').textContent = loggedIn ? whoAmI() : '';
  if (!loggedIn) {
    leave();
    leave = () => {};
    for (const name of Object.keys(PAGES)) $(`page-${name}`).hidden = true;
    // nothing an admin saw stays in the page once logged out
    for (const id of ['trees', 'agents', 'audit-list', 'verify', 'probes']) $(id).replaceChildren();
  }
}

const current = () => (Object.hasOwn(PAGES, location.hash.slice(1)) ? location.hash.slice(1) : 'sessions');

function open() {
  if (!whoAmI()) return;
  const name = current();
  leave();
  for (const [other] of Object.entries(PAGES)) $(`page-${other}`).hidden = other !== name;
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  say('');
  leave = PAGES[name]();
}

function loggedOut(message) {
  show(false);
  $('login-error').textContent = message;
  $('client-secret').value = '';
  $('client-id').focus();
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  const id = $('client-id').value.trim();
  const secret = $('client-secret').value;
  try {
    await login(id, secret);
  } catch (err) {
    $('login-error').textContent = err instanceof ApiError && err.status === 401
      ? 'Unknown client id or wrong secret.' : `Login failed: ${err.message}`;
    return;
  }
  $('client-secret').value = '';
  show(true);
  open();
  $(`page-${current()}`).querySelector('h2').focus();
});

$('logout').addEventListener('click', () => {
  logout();
  loggedOut('Logged out.');
});

setLoggedOutHandler(loggedOut);
window.addEventListener('hashchange', open);
show(false);
$('client-id').focus();
