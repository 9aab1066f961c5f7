// The live view: noVNC shows the desktop; this script adds agentdesk's control protocol (take
// control, hand back) and help requests. The server enforces all of it (a viewer that does not
// hold control has its input dropped by the bridge); the page only reflects it.
import RFB from '/novnc/core/rfb.js';

const $ = (id) => document.getElementById(id);
const desktop = decodeURIComponent(location.pathname.split('/')[2] || 'default');
const base = `/desktops/${encodeURIComponent(desktop)}`;

// A fresh id per page load names this viewer to the server; control is held by an id, and a
// reloaded page starts as a plain viewer again (the server hands control back when the holder's
// connection closes).
const viewer = 'v-' + Array.from(crypto.getRandomValues(new Uint8Array(8)),
  (b) => b.toString(16).padStart(2, '0')).join('');

let rfb = null;
let control = 'agent'; // 'agent', 'you' or 'another viewer', as the server says
let help = null;
let busy = false;

// For tests and the curious: the noVNC object and this viewer's id.
window.agentdesk = { viewer, get rfb() { return rfb; }, get control() { return control; } };

function notice(text) {
  $('notice').textContent = text || '';
  $('notice').hidden = !text;
}

function setConnection(state) {
  const pill = $('connection');
  pill.textContent = state;
  pill.className = `pill ${state}`;
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  setConnection('connecting…');
  rfb = new RFB($('screen'), `${scheme}://${location.host}${base}/rfb?viewer=${viewer}`,
    { shared: true, wsProtocols: ['binary'] });
  rfb.viewOnly = control !== 'you';
  rfb.scaleViewport = true;
  rfb.background = '#14171c';
  rfb.addEventListener('connect', () => { setConnection('connected'); notice(''); });
  rfb.addEventListener('disconnect', (e) => {
    setConnection('disconnected');
    rfb = null;
    if (!e.detail.clean) notice('The connection to the desktop was lost; reconnecting…');
    setTimeout(connect, 2000);
  });
  rfb.addEventListener('securityfailure', (e) => notice(`Refused: ${e.detail.reason || ''}`));
}

function render(status) {
  const changed = control !== status.control;
  control = status.control;
  const mine = control === 'you';
  // Only on a change: what the page sends is a courtesy, the server decides what passes.
  if (rfb && changed) rfb.viewOnly = !mine;
  document.body.classList.toggle('in-control', mine);
  const state = $('state');
  const button = $('control');
  if (mine) {
    state.textContent = 'You have control: the agent is paused.';
    state.className = 'state human';
    button.textContent = 'Hand back to the agent';
    button.className = '';
    button.disabled = busy;
  } else if (control !== 'agent') {
    state.textContent = `Another viewer (${status.holder_token}) has control.`;
    state.className = 'state human';
    button.textContent = 'Take control';
    button.disabled = true;
  } else {
    state.textContent = 'The agent is driving; you are watching.';
    state.className = 'state';
    button.textContent = 'Take control';
    button.className = 'primary';
    button.disabled = busy;
  }
  $('logout').hidden = !status.signed_in;
  help = status.help;
  const open = help && !help.answered;
  if (open && $('help-message').dataset.id !== String(help.id)) {
    $('help-message').textContent = help.message;
    $('help-message').dataset.id = String(help.id);
    $('help-reply').value = '';
  }
  if (open) $('help-age').textContent = `(${help.age_secs} s ago, request ${help.id})`;
  $('help').hidden = !open;
  $('help-done').textContent = mine ? 'Done: hand back and tell the agent' : 'Done: tell the agent';
}

async function request(path, init) {
  const response = await fetch(path, { cache: 'no-store', ...init });
  if (response.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new Error('logged out');
  }
  if (!response.ok) throw new Error((await response.text()).trim());
  return response.json();
}

async function refresh() {
  try {
    render(await request(`${base}/control?viewer=${viewer}`));
  } catch (e) {
    if (e.message !== 'logged out') notice(e.message);
  }
}

async function act(action) {
  busy = true;
  try {
    render(await request(`${base}/control?viewer=${viewer}&action=${action}`, { method: 'POST' }));
    notice('');
    if (action === 'take' && rfb) rfb.focus();
  } catch (e) {
    notice(e.message);
  } finally {
    busy = false;
  }
}

$('desktop').textContent = desktop;
document.title = `${desktop}: agentdesk live view`;
$('control').addEventListener('click', () => act(control === 'you' ? 'release' : 'take'));
$('help-done').addEventListener('click', async () => {
  if (!help) return;
  try {
    await request(`${base}/help?viewer=${viewer}&request=${help.id}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ reply: $('help-reply').value }),
    });
    if (control === 'you') await act('release');
    await refresh();
  } catch (e) {
    notice(e.message);
  }
});
// Closing the tab hands control back at once (the server would also notice the closed
// connection, or the idle time).
addEventListener('pagehide', () => {
  if (control === 'you') {
    navigator.sendBeacon(`${base}/control?viewer=${viewer}&action=release`);
  }
});

// The agent loop's newest task on this desktop, beside the screen: its steps follow the task's
// event stream (EventSource reconnects by itself, and the server replays what it missed by
// Last-Event-ID). Everything shown is text content: a model's words never become markup.
let following = null;
let source = null;

function stateText(data) {
  const words = { input_required: 'waiting for you', paused: 'paused: a person has control' };
  let text = words[data.state] || data.state;
  if (data.question) text += `: ${data.question}`;
  if (data.outcome) text += `: ${data.outcome.text || data.outcome.reason}`;
  return text;
}

function setTaskState(data) {
  $('task-state').textContent = stateText(data);
  $('task-state').className = `task-state ${data.state}`;
}

function addStep(step) {
  const item = document.createElement('li');
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.textContent = `step ${step.step} · ${(step.model_ms / 1000).toFixed(1)} s · $${Number(step.cost_usd).toFixed(4)}`;
  item.append(meta);
  if (step.narration) {
    const words = document.createElement('div');
    words.className = 'narration';
    words.textContent = step.narration;
    item.append(words);
  }
  for (const action of step.actions || []) {
    const line = document.createElement('div');
    line.className = 'actions';
    const { call, ...args } = action;
    line.textContent = `→ ${call} ${Object.keys(args).length ? JSON.stringify(args) : ''}`;
    item.append(line);
  }
  const failed = (step.results || []).find((r) => !r.ok);
  if (failed) {
    const line = document.createElement('div');
    line.className = 'failed';
    line.textContent = `✗ ${failed.text}`;
    item.append(line);
  }
  if (step.help) {
    const line = document.createElement('div');
    line.textContent = `? ${step.help.question} — ${step.help.answer}`;
    item.append(line);
  }
  if (typeof step.thumbnail === 'string' && step.thumbnail.startsWith(`${base}/tasks/`)) {
    const link = document.createElement('a');
    link.href = step.thumbnail;
    link.target = '_blank';
    const img = document.createElement('img');
    img.loading = 'lazy';
    img.alt = `the screen after step ${step.step}`;
    img.src = step.thumbnail;
    link.append(img);
    item.append(link);
  }
  $('steps').append(item);
  $('task').scrollTop = $('task').scrollHeight;
}

function follow(task) {
  if (source) source.close();
  following = task.id;
  $('task').hidden = false;
  $('task-model').textContent = task.model;
  $('task-goal').textContent = task.goal;
  setTaskState(task);
  $('steps').replaceChildren();
  source = new EventSource(`${base}/tasks/${encodeURIComponent(task.id)}/stream`);
  source.addEventListener('step', (e) => addStep(JSON.parse(e.data)));
  source.addEventListener('state', (e) => setTaskState(JSON.parse(e.data)));
  source.addEventListener('end', (e) => {
    setTaskState(JSON.parse(e.data));
    source.close();
    source = null;
  });
}

async function watchTasks() {
  try {
    const { tasks } = await request(`${base}/tasks`);
    if (tasks.length && tasks[0].id !== following) follow(tasks[0]);
  } catch (e) {
    // The task list is extra; the desktop itself still shows.
  }
}

// For tests: the task the page follows.
window.agentdesk.task = () => following;

connect();
refresh();
setInterval(refresh, 1000);
watchTasks();
setInterval(watchTasks, 3000);
