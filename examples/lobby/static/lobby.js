import { Socket } from "/assets/phoenix/phoenix.mjs";

const room = new URLSearchParams(location.search).get("room") || "main";
const $ = (id) => document.getElementById(id);
$("room-name").textContent = "#" + room;

function addMessage({ body, from, at }) {
  const li = document.createElement("li");
  const who = document.createElement("span");
  who.className = "from";
  who.textContent = from;
  const text = document.createElement("span");
  text.className = "body";
  text.textContent = body;
  const when = document.createElement("span");
  when.className = "at";
  when.textContent = new Date(at).toLocaleTimeString();
  li.append(who, text, when);
  $("messages").append(li);
  $("messages").scrollTop = $("messages").scrollHeight;
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const username = $("username").value.trim();
  if (!username) return;
  const socket = new Socket("/socket", { params: { username } });
  // The connection notice: shown while the socket is down, gone on reconnect.
  socket.onError(() => { $("reconnecting").hidden = false; });
  socket.onClose(() => { $("reconnecting").hidden = false; });
  socket.onOpen(() => { $("reconnecting").hidden = true; });
  socket.connect();
  const channel = socket.channel("lobby:" + room, {});
  channel.on("message", addMessage);
  channel.join()
    .receive("ok", () => { $("status").textContent = `in #${room} as ${username}`; })
    .receive("error", ({ reason }) => { $("status").textContent = "refused: " + reason; });
  $("join-form").hidden = true;
  $("chat").hidden = false;
  $("message").focus();
  $("message-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const body = $("message").value.trim();
    if (!body) return;
    channel.push("message", { body })
      .receive("ok", () => { $("message").value = ""; })
      .receive("error", ({ reason }) => { $("status").textContent = "not sent: " + reason; });
  });
});
