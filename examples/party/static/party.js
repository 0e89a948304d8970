import { Socket, Presence } from "/assets/phoenix/phoenix.mjs";

const POINTS = [1, 2, 3, 5, 8, 13];
const room = new URLSearchParams(location.search).get("room") || "lobby";
const $ = (id) => document.getElementById(id);
$("room-name").textContent = "#" + room;

let channel = null;
let me = null;
let driver = null;
let lastResult = null;

function pointsOf(metas) {
  const m = metas.find((meta) => meta.points !== null && meta.points !== undefined);
  return m ? m.points : null;
}

function renderUsers(presence) {
  const list = $("users");
  list.replaceChildren();
  presence.list((name, { metas }) => {
    const li = document.createElement("li");
    li.dataset.user = name;
    const points = pointsOf(metas);
    li.className = points === null ? "waiting" : "voted";
    li.textContent = `${name}${name === driver ? " (driver)" : ""} — ${points === null ? "thinking…" : "voted"}`;
    if (metas.length > 1) li.textContent += ` (${metas.length} tabs)`;
    list.append(li);
  });
}

function showCard(card) {
  $("no-card").hidden = true;
  $("done").hidden = true;
  $("current").hidden = false;
  $("card-title").textContent = card.title;
  $("card-description").textContent = card.description;
  $("result").textContent = "";
  $("next").hidden = true;
  lastResult = null;
  for (const b of $("votes").querySelectorAll("button")) b.disabled = false;
}

function showResult(text, points) {
  $("result").textContent = text;
  lastResult = points;
  $("next").hidden = me !== driver;
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  me = $("username").value.trim();
  if (!me) return;
  $("login").hidden = true;
  $("room").hidden = false;
  for (const p of POINTS) {
    const b = document.createElement("button");
    b.textContent = p;
    b.dataset.points = p;
    b.addEventListener("click", () => {
      channel.push("user_estimated", { points: p });
      for (const other of $("votes").querySelectorAll("button")) other.disabled = other !== b;
    });
    $("votes").append(b);
  }

  const socket = new Socket("/socket", { params: { username: me } });
  // The connection notice: shown while the socket is down, gone on reconnect.
  socket.onError(() => { $("reconnecting").hidden = false; });
  socket.onClose(() => { $("reconnecting").hidden = false; });
  socket.onOpen(() => { $("reconnecting").hidden = true; });
  socket.connect();
  channel = socket.channel("room:" + room, {});
  const presence = new Presence(channel);
  presence.onSync(() => renderUsers(presence));

  channel.on("new_card", ({ card, driver: d }) => { driver = d; showCard(card); renderUsers(presence); });
  channel.on("winner", ({ points }) => showResult(`Winner: ${points} points`, points));
  channel.on("tie", ({ points }) => showResult(`Tie between ${points[0]} and ${points[1]}`, points[0]));
  channel.on("cards_done", () => { $("current").hidden = true; $("no-card").hidden = true; $("done").hidden = false; });

  channel.join()
    .receive("ok", ({ card, driver: d }) => {
      driver = d || null;
      $("status").textContent = `in #${room} as ${me}`;
      if (card) showCard(card);
    })
    .receive("error", ({ reason }) => { $("status").textContent = "refused: " + reason; });

  $("start").addEventListener("click", () => channel.push("start_pointing", {}));
  $("next").addEventListener("click", () => {
    channel.push("next_card", { points: lastResult })
      .receive("error", ({ reason }) => { $("status").textContent = reason; });
  });
});
