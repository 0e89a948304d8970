import { Socket, Presence } from "/assets/phoenix/phoenix.mjs";

const POINTS = [1, 2, 3, 5, 8, 13];
const room = new URLSearchParams(location.search).get("room") || "lobby";
const $ = (id) => document.getElementById(id);
$("room-name").textContent = "#" + room;

let channel = null;
let me = null;
let driver = null;
let lastResult = null;
let card = null;
let closed = false;

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

function showCard(c) {
  card = c;
  closed = false;
  $("no-card").hidden = true;
  $("done").hidden = true;
  $("current").hidden = false;
  $("card-title").textContent = card.title;
  $("card-description").textContent = card.description;
  $("result").textContent = "";
  $("next").hidden = true;
  $("reveal").replaceChildren();
  $("vote-hint").hidden = false;
  lastResult = null;
  for (const b of $("votes").querySelectorAll("button")) {
    b.disabled = false;
    b.classList.remove("chosen");
    b.setAttribute("aria-pressed", "false");
  }
}

// "3", "3 and 5", "3, 5 and 8"
function listing(points) {
  return points.length < 2 ? String(points[0]) : points.slice(0, -1).join(", ") + " and " + points.at(-1);
}

// showResult closes the round: the result, every vote, no more voting.
function showResult(text, points, votes) {
  closed = true;
  $("result").textContent = text;
  lastResult = points;
  $("next").hidden = me !== driver;
  $("vote-hint").hidden = true;
  for (const b of $("votes").querySelectorAll("button")) b.disabled = true;
  const list = $("reveal");
  list.replaceChildren();
  for (const [name, p] of Object.entries(votes || {}).sort(([a], [b]) => a < b ? -1 : 1)) {
    const li = document.createElement("li");
    li.dataset.user = name;
    li.textContent = `${name}: ${p}`;
    list.append(li);
  }
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
      if (closed || !card) return;
      channel.push("user_estimated", { points: p, card: card.id })
        .receive("ok", () => {
          for (const other of $("votes").querySelectorAll("button")) {
            other.classList.toggle("chosen", other === b);
            other.setAttribute("aria-pressed", String(other === b));
          }
        })
        .receive("error", ({ reason }) => { $("status").textContent = reason; });
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
  window.partyChannel = channel; // for the end-to-end tests
  const presence = new Presence(channel);
  presence.onSync(() => renderUsers(presence));

  channel.on("new_card", ({ card, driver: d }) => { driver = d; showCard(card); renderUsers(presence); });
  channel.on("winner", ({ points, votes }) => showResult(`Winner: ${points} points`, points, votes));
  channel.on("tie", ({ points, votes }) => showResult(`Tie between ${listing(points)}`, points[0], votes));
  channel.on("driver", ({ driver: d }) => {
    driver = d;
    renderUsers(presence);
    if (closed) $("next").hidden = me !== driver;
  });
  channel.on("cards_done", () => { $("current").hidden = true; $("no-card").hidden = true; $("done").hidden = false; });

  channel.join()
    .receive("ok", ({ card: c, driver: d, closed: over }) => {
      driver = d || null;
      $("status").textContent = `in #${room} as ${me}`;
      if (c) showCard(c);
      if (c && over) showResult("This round is over: wait for the next card.", null, {});
    })
    .receive("error", ({ reason }) => { $("status").textContent = "refused: " + reason; });

  $("start").addEventListener("click", () => channel.push("start_pointing", {}));
  $("next").addEventListener("click", () => {
    channel.push("next_card", { points: lastResult })
      .receive("error", ({ reason }) => { $("status").textContent = reason; });
  });
});
