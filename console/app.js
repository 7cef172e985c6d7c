// The console's entry: login, the page switcher (#overview, #sessions, #agents, #resource-servers,
// #audit, #probes), logout. A page the admin's token has no scope for is neither linked nor opened.
import { ApiError, can, login, logout, setLoggedOutHandler, whoAmI } from './api.js';
import { agentsPage } from './agents.js';
import { auditPage } from './audit.js';
import { say } from './dom.js';
import { overviewPage } from './overview.js';
import { probesPage } from './probes.js';
import { resourceServersPage } from './resource-servers.js';
import { sessionsPage } from './sessions.js';

/** Each page and the scopes that make it usable (any one of them). */
const PAGES = {
  overview: { open: overviewPage, scopes: ['sessions:read', 'agents:read', 'audit:read'] },
  sessions: { open: sessionsPage, scopes: ['sessions:read'] },
  agents: { open: agentsPage, scopes: ['agents:read'] },
  'resource-servers': { open: resourceServersPage, scopes: ['agents:read'] },
  audit: { open: auditPage, scopes: ['audit:read'] },
  probes: { open: probesPage, scopes: ['agents:read'] },
};
/** What each page draws into: emptied on logout, so nothing an admin saw stays in the page. */
const CONTAINERS = ['overview', 'trees', 'agents', 'agent-editor', 'servers', 'server-editor', 'audit-list', 'verify', 'probes'];
const $ = (id) => document.getElementById(id);
let leave = () => {};

const usable = (name) => PAGES[name].scopes.some(can);

function show(loggedIn) {
  $('login').hidden = loggedIn;
  $('nav').hidden = !loggedIn;
  $('who').hidden = !loggedIn;
  $('who-name').textContent = loggedIn ? whoAmI() : '';
  for (const a of $('nav').querySelectorAll('a')) a.hidden = !loggedIn || !usable(a.dataset.page);
  if (!loggedIn) {
    leave();
    leave = () => {};
    for (const name of Object.keys(PAGES)) $(`page-${name}`).hidden = true;
    for (const id of CONTAINERS) $(id).replaceChildren();
    say('');
  }
}

/** The page the hash names if the admin may use it, else the first one it may use. */
function current() {
  const asked = location.hash.slice(1);
  if (Object.hasOwn(PAGES, asked) && usable(asked)) return asked;
  return Object.keys(PAGES).find(usable) ?? null;
}

function open() {
  if (!whoAmI()) return;
  const name = current();
  leave();
  leave = () => {};
  for (const other of Object.keys(PAGES)) $(`page-${other}`).hidden = other !== name;
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  say('');
  if (!name) {
    say('Your admin token holds no scope this console can use.', 'error');
    return;
  }
  leave = PAGES[name].open();
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
  $('client-secret').value = '';
  try {
    await login(id, secret);
  } catch (err) {
    $('login-error').textContent = err instanceof ApiError && err.status === 401
      ? 'Unknown client id or wrong secret.' : `Login failed: ${err.message}`;
    return;
  }
  show(true);
  open();
  const name = current();
  if (name) $(`page-${name}`).querySelector('h2').focus();
});

$('logout').addEventListener('click', async () => {
  await logout();
  loggedOut('Logged out.');
});

setLoggedOutHandler(loggedOut);
window.addEventListener('hashchange', open);
show(false);
$('client-id').focus();
