/*
 * Spine Care Assistant — website chat widget. Vanilla JS, no build step, no dependencies.
 *
 *   <script src="https://host/widget/widget.js" data-server="https://bot.example" defer></script>
 *
 * Talks to the Rasa server's `webchat` channel (channels/web.py): REST with a message id, so a
 * message retried after a network error is never processed twice. Everything renders inside a
 * Shadow DOM (the host page's CSS cannot reach it, ours cannot leak out) and every string from the
 * bot or the user is set with textContent — never innerHTML. Links: http(s) only.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__spineCareWidget) return;
  window.__spineCareWidget = true;

  var SERVER = (script.getAttribute("data-server") || "").replace(/\/+$/, "");
  var TITLE = script.getAttribute("data-title") || "Spine Care Assistant";
  var BASE = new URL(".", script.src).href;
  var ENDPOINT = SERVER + "/webhooks/webchat/webhook";
  var KEY = "spine-care-widget:" + SERVER;
  var MAX_CHARS = 1000;
  var TIMEOUT_MS = 20000;
  var RETRY_DELAYS = [1000, 2000, 4000, 8000, 15000, 30000];
  var DISCLAIMER = "General information, not medical advice. In an emergency call 112 or 108.";

  // ---- state (persisted in localStorage) -----------------------------------------------------
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "id-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }
  function load() {
    try {
      var saved = JSON.parse(localStorage.getItem(KEY) || "null");
      if (saved && typeof saved.sender === "string" && Array.isArray(saved.transcript)) {
        saved.pending = Array.isArray(saved.pending) ? saved.pending : [];
        return saved;
      }
    } catch (e) { /* corrupted or blocked storage: start afresh */ }
    return { sender: newId(), transcript: [], pending: [], open: false };
  }
  var state = load();
  function save() {
    try {
      state.transcript = state.transcript.slice(-200);
      localStorage.setItem(KEY, JSON.stringify(state));
    } catch (e) { /* storage full or disabled: the chat still works for this page */ }
  }

  // ---- DOM helpers: text only --------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function safeHref(url) {
    try {
      var parsed = new URL(url);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) { return null; }
  }
  // Text with http(s) links made clickable; everything else stays plain text.
  function richText(text) {
    var fragment = document.createDocumentFragment();
    String(text).split("\n").forEach(function (line, index) {
      if (index) fragment.appendChild(document.createElement("br"));
      var pattern = /https?:\/\/[^\s<>"]+[^\s<>".,;:!?)]/g, last = 0, match;
      while ((match = pattern.exec(line))) {
        fragment.appendChild(document.createTextNode(line.slice(last, match.index)));
        var href = safeHref(match[0]);
        fragment.appendChild(href
          ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: match[0] })
          : document.createTextNode(match[0]));
        last = match.index + match[0].length;
      }
      fragment.appendChild(document.createTextNode(line.slice(last)));
    });
    return fragment;
  }
  function initials(name) {
    return String(name).replace(/^Dr\.?\s+/i, "").split(/\s+/).filter(Boolean)
      .slice(0, 2).map(function (w) { return w[0].toUpperCase(); }).join("");
  }

  // ---- the widget ----------------------------------------------------------------------------
  var host = el("div", { id: "spine-care-widget" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.appendChild(el("link", { rel: "stylesheet", href: BASE + "widget.css" }));

  var launcher = el("button", {
    className: "launcher", type: "button", "aria-label": "Open chat with the " + TITLE,
    "aria-expanded": "false", "aria-controls": "scw-panel", onclick: function () { toggle(true); }
  }, [el("span", { "aria-hidden": "true", text: "💬" }), el("span", { className: "launcher-label", text: "Ask about spine surgery" })]);

  var log = el("div", {
    className: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": "Conversation", tabindex: "0"
  });
  var typing = el("div", { className: "typing", hidden: "hidden", "aria-hidden": "true" },
    [el("span"), el("span"), el("span")]);
  var typingText = el("span", { className: "sr-only", role: "status" });
  var status = el("div", { className: "status", role: "alert", hidden: "hidden" });
  var input = el("input", {
    id: "scw-input", type: "text", maxlength: String(MAX_CHARS), autocomplete: "off",
    placeholder: "Type your question…", "aria-label": "Your message"
  });
  var sendButton = el("button", { className: "send", type: "submit", text: "Send" });
  var form = el("form", { className: "composer", onsubmit: onSubmit }, [
    el("label", { className: "sr-only", for: "scw-input", text: "Your message" }), input, sendButton
  ]);
  var panel = el("section", {
    id: "scw-panel", className: "panel", role: "dialog", "aria-modal": "false",
    "aria-labelledby": "scw-title", hidden: "hidden", onkeydown: function (event) {
      if (event.key === "Escape") toggle(false);
    }
  }, [
    el("header", { className: "header" }, [
      el("div", { className: "titles" }, [
        el("h2", { id: "scw-title", text: TITLE }),
        el("p", { className: "disclaimer", text: DISCLAIMER })
      ]),
      el("button", { className: "icon", type: "button", title: "Restart conversation", "aria-label": "Restart conversation", text: "↺", onclick: restart }),
      el("button", { className: "icon", type: "button", title: "Close chat", "aria-label": "Close chat", text: "✕", onclick: function () { toggle(false); } })
    ]),
    log, typing, typingText, status, form
  ]);
  root.appendChild(launcher);
  root.appendChild(panel);

  function toggle(open) {
    state.open = open;
    save();
    panel.hidden = !open;
    launcher.hidden = open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      if (!state.transcript.length) addMessage({ from: "bot", text: "Hello! Ask me about minimally invasive spine surgery (MISS): what it is, recovery, risks — or find a specialist and request a consultation." });
      log.scrollTop = log.scrollHeight;
      input.focus();
    } else {
      launcher.focus();
    }
  }

  function restart() {
    // Drop whatever the old conversation still had in flight: its answers must not land here.
    if (inflight) inflight.abort();
    clearTimeout(retryTimer);
    retryTimer = null;
    busy = false;
    attempt = 0;
    setTyping(false);
    state = { sender: newId(), transcript: [], pending: [], open: true };
    save();
    log.textContent = "";
    setStatus("");
    toggle(true);
    input.focus();
  }

  // ---- messages --------------------------------------------------------------------------------
  function addMessage(message) {
    state.transcript.push(message);
    save();
    renderMessage(message, state.transcript.length - 1);
  }

  function renderMessage(message, index) {
    var bubble;
    if (message.cards) {
      var list = el("ul", { className: "cards" });
      bubble = el("div", { className: "msg bot cards-msg" }, [
        message.text ? el("p", { className: "intro", text: message.text }) : null, list
      ]);
      message.cards.forEach(function (card) {
        list.appendChild(renderCard(card, message.used, function () { useButtons(index, bubble); }));
      });
    } else {
      bubble = el("div", { className: "msg " + (message.from === "user" ? "user" : "bot") + (message.urgent ? " urgent" : "") });
      if (message.urgent) bubble.appendChild(el("strong", { className: "urgent-label", text: "Urgent" }));
      bubble.appendChild(el("p", {}, [richText(message.text || "")]));
    }
    bubble.appendChild(el("span", { className: "sr-only", text: message.from === "user" ? " (you)" : "" }));
    log.appendChild(bubble);
    if (message.buttons && message.buttons.length) log.appendChild(renderButtons(message, index));
    log.scrollTop = log.scrollHeight;
  }

  function renderButtons(message, index) {
    var group = el("div", { className: "quick-replies", role: "group", "aria-label": "Suggested replies" });
    message.buttons.forEach(function (button) {
      group.appendChild(el("button", {
        type: "button", text: button.title, disabled: message.used ? "disabled" : null,
        onclick: function () { useButtons(index, group); send(button.payload, button.title); }
      }));
    });
    return group;
  }

  function useButtons(index, group) {
    var message = state.transcript[index];
    if (message) { message.used = true; save(); }
    Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) { b.disabled = true; });
  }

  function renderCard(card, used, onUse) {
    var lines = [
      el("p", { className: "name", text: card.name }),
      el("p", { text: card.specialty + " · " + card.experience }),
      el("p", { className: "quals", text: card.qualifications }),
      el("p", { text: card.location || (card.hospital + " (" + card.city + ")") }),
      el("p", { text: "Recommendation: " + card.recommendation }),
      el("p", { text: "Fees: " + card.fees + (card.no_booking_fees ? " · No Booking Fees" : "") })
    ];
    var actions = el("div", { className: "card-actions" });
    (card.buttons || []).filter(validButton).forEach(function (button) {
      actions.appendChild(el("button", {
        type: "button", text: button.title, "aria-label": button.title + " with " + card.name,
        disabled: used ? "disabled" : null,
        onclick: function () { onUse(); send(button.payload, button.title + " — " + card.name); }
      }));
    });
    return el("li", { className: "card" }, [
      el("div", { className: "avatar", "aria-hidden": "true", text: initials(card.name) }),
      el("div", { className: "card-body" }, lines.concat([actions]))
    ]);
  }

  // Turn the server's replies into transcript messages: structured cards replace their text
  // version, and an urgent marker highlights the message it follows.
  function receive(replies) {
    var out = [];
    replies.forEach(function (reply) {
      var custom = reply.custom;
      if (custom && custom.type === "specialist_cards" && Array.isArray(custom.cards)) {
        var previous = out[out.length - 1];
        if (previous && previous.text === custom.text) { out.pop(); }  // its text version
        out.push({ from: "bot", text: custom.intro || "", cards: custom.cards.filter(validCard) });
      } else if (custom && custom.type === "urgent") {
        if (out.length) out[out.length - 1].urgent = true;
      } else if (typeof reply.text === "string") {
        out.push({ from: "bot", text: reply.text, buttons: Array.isArray(reply.buttons) ? reply.buttons.filter(validButton) : [] });
      }
    });
    out.forEach(addMessage);
  }
  function validButton(b) { return b && typeof b.title === "string" && typeof b.payload === "string"; }
  function validCard(c) { return c && typeof c.name === "string"; }

  // ---- sending, retries, offline -------------------------------------------------------------
  var busy = false, retryTimer = null, attempt = 0, inflight = null;
  var MAX_SERVER_ERRORS = 6;  // a message the server keeps failing on is dropped, not retried forever

  function onSubmit(event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) { setStatus("Please keep messages under " + MAX_CHARS + " characters."); return; }
    input.value = "";
    send(text, text);
  }

  function send(payload, display) {
    addMessage({ from: "user", text: display });
    state.pending.push({ id: newId(), text: payload });
    save();
    flush();
  }

  function setStatus(text, withRetry) {
    status.textContent = "";
    status.hidden = !text;
    if (!text) return;
    status.appendChild(el("span", { text: text }));
    if (withRetry) status.appendChild(el("button", { type: "button", className: "retry", text: "Retry now", onclick: function () { attempt = 0; flush(); } }));
  }

  function setTyping(on) {
    typing.hidden = !on;
    typingText.textContent = on ? "The assistant is typing" : "";
  }

  function flush() {
    if (busy || !state.pending.length) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    busy = true;
    setTyping(true);
    var item = state.pending[0];
    var owner = state;  // the conversation this request belongs to (restart replaces it)
    var sent = false;
    var controller = window.AbortController ? new AbortController() : null;
    inflight = controller;
    var timer = setTimeout(function () { if (controller) controller.abort(); }, TIMEOUT_MS);
    fetch(ENDPOINT, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: state.sender, message: item.text, message_id: item.id }),
      signal: controller ? controller.signal : undefined
    }).then(function (res) {
      if (res.status === 400) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          throw { permanent: true, reason: body && body.error };
        });
      }
      if (!res.ok) throw { permanent: false, server: true };
      return res.json();
    }).then(function (replies) {
      if (owner !== state) return;
      sent = true;
      removePending(item.id);
      attempt = 0;
      save();
      setStatus("");
      receive(Array.isArray(replies) ? replies : []);
    }).catch(function (error) {
      if (owner !== state) return;
      if (error && error.server) item.serverErrors = (item.serverErrors || 0) + 1;
      if (error && (error.permanent || item.serverErrors >= MAX_SERVER_ERRORS)) {
        sent = true;
        removePending(item.id);
        setStatus(error.permanent
          ? "That message could not be sent" + (error.reason ? " (" + error.reason + ")" : "") + "."
          : "Sorry, the assistant could not answer that message. Please try again or rephrase it.");
        return;
      }
      // Same message id on every retry: the server answers it once.
      var delay = RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)];
      attempt += 1;
      setStatus("Can't reach the assistant right now. Your message is kept and will be sent when the connection is back.", true);
      retryTimer = setTimeout(flush, delay);
    }).then(function () {
      clearTimeout(timer);
      if (owner !== state) return;  // restart already reset the queue state
      inflight = null;
      busy = false;
      setTyping(false);
      if (sent && state.pending.length) flush();
    });
  }

  function removePending(id) {
    state.pending = state.pending.filter(function (p) { return p.id !== id; });
    save();
  }

  window.addEventListener("online", function () { attempt = 0; flush(); });

  // ---- start -----------------------------------------------------------------------------------
  function start() {
    document.body.appendChild(host);
    state.transcript.forEach(function (message, index) { renderMessage(message, index); });
    if (state.open) toggle(true);
    if (state.pending.length) flush();
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
