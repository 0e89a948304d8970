import { Socket, Presence } from "/assets/phoenix/phoenix.mjs";

const room = new URLSearchParams(location.search).get("room") || "main";
const $ = (id) => document.getElementById(id);
$("room-name").textContent = "#" + room;

// PUSH_TIMEOUT is how long a message waits for the server before the page
// says it was not sent (and offers a retry; a rejoin sends it again).
const PUSH_TIMEOUT = 5000;

let channel = null;
let username = null;
// pending: messages of ours not yet seen broadcast, by id.
const pending = new Map();
// seen: ids of messages shown, so a message is listed once.
const seen = new Set();

function scrollDown() { $("messages").scrollTop = $("messages").scrollHeight; }

function line({ body, from, at }) {
  const li = document.createElement("li");
  const who = document.createElement("span");
  who.className = "from";
  who.textContent = from;
  const text = document.createElement("span");
  text.className = "body";
  text.textContent = body;
  const when = document.createElement("span");
  when.className = "at";
  when.textContent = at ? new Date(at).toLocaleTimeString() : "";
  li.append(who, text, when);
  return li;
}

function addMessage(m) {
  const key = m.id ? `${m.from}\u0000${m.id}` : null;
  if (key && seen.has(key)) return;
  if (key) seen.add(key);
  const mine = m.id && m.from === username && pending.get(m.id);
  if (mine) {
    // Our own message came back: it is delivered.
    pending.delete(m.id);
    mine.li.replaceWith(line(m));
  } else {
    $("messages").append(line(m));
  }
  scrollDown();
}

function announce(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  $("messages").append(li);
  scrollDown();
}

function renderMembers(presence) {
  const ul = $("members");
  ul.replaceChildren();
  const names = presence.list((name) => name).sort();
  for (const name of names) {
    const li = document.createElement("li");
    li.dataset.user = name;
    li.textContent = name === username ? `${name} (you)` : name;
    ul.append(li);
  }
  $("member-count").textContent = String(names.length);
}

// send pushes one of our messages; on a timeout it is marked not sent.
function send(p) {
  p.li.className = "pending";
  p.state.textContent = "sending…";
  p.retry.hidden = true;
  channel.push("message", { body: p.body, id: p.id }, PUSH_TIMEOUT)
    .receive("ok", () => {
      // Delivered (a duplicate of a delivered retry included); the
      // broadcast replaces the line, unless it was seen already.
      if (pending.get(p.id) === p && seen.has(`${username}\u0000${p.id}`)) pending.delete(p.id);
      if (pending.get(p.id) === p) { p.state.textContent = "sent"; }
    })
    .receive("error", ({ reason }) => {
      p.li.className = "failed";
      p.state.textContent = "not sent: " + reason;
      pending.delete(p.id);
    })
    .receive("timeout", () => {
      if (pending.get(p.id) !== p) return;
      p.li.className = "unsent";
      p.state.textContent = "not sent: the server is away. It is sent again when the connection is back.";
      p.retry.hidden = false;
    });
}

function newID() {
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  username = $("username").value.trim();
  if (!username) return;
  const socket = new Socket("/socket", { params: { username } });
  // The connection notice: shown while the socket is down, gone on reconnect.
  socket.onError(() => { $("reconnecting").hidden = false; });
  socket.onClose(() => { $("reconnecting").hidden = false; });
  socket.onOpen(() => { $("reconnecting").hidden = true; });
  socket.connect();
  channel = socket.channel("lobby:" + room, {});
  const presence = new Presence(channel);
  let synced = false;
  presence.onJoin((name, current) => {
    if (synced && !current && name !== username) announce(`${name} joined`);
  });
  presence.onLeave((name, current) => {
    if (synced && current.metas.length === 0 && name !== username) announce(`${name} left`);
  });
  presence.onSync(() => { synced = true; renderMembers(presence); });
  channel.on("message", addMessage);
  channel.join()
    .receive("ok", ({ history }) => {
      $("status").textContent = `in #${room} as ${username}`;
      for (const m of history || []) addMessage(m);
      // A rejoin (after the server was away): send what did not get through.
      for (const p of pending.values()) if (p.li.className === "unsent") send(p);
    })
    .receive("error", ({ reason }) => { $("status").textContent = "refused: " + reason; });
  $("join-form").hidden = true;
  $("chat").hidden = false;
  $("message").focus();
  $("message-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const body = $("message").value.trim();
    if (!body) return;
    const p = { id: newID(), body };
    p.li = line({ body, from: username });
    p.state = document.createElement("span");
    p.state.className = "state";
    p.retry = document.createElement("button");
    p.retry.type = "button";
    p.retry.className = "retry";
    p.retry.textContent = "Retry";
    p.retry.hidden = true;
    p.retry.addEventListener("click", () => send(p));
    p.li.append(p.state, p.retry);
    $("messages").append(p.li);
    scrollDown();
    pending.set(p.id, p);
    $("message").value = "";
    send(p);
  });
});
