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
  // The transcript is kept on this device only while the chat is in use: after this many idle
  // minutes it is dropped and the next message starts a new conversation.
  var IDLE_MINUTES = Math.max(1, parseFloat(script.getAttribute("data-idle-minutes")) || 30);
  var IDLE_MS = IDLE_MINUTES * 60000;
  var HIDDEN = "(not kept on this device)";

  // ---- state (persisted in localStorage) -----------------------------------------------------
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "id-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }
  function fresh(open) {
    return { sender: newId(), transcript: [], pending: [], open: !!open, lastActive: Date.now() };
  }
  function idle(saved) {
    return !saved.lastActive || Date.now() - saved.lastActive > IDLE_MS;
  }
  function load() {
    try {
      var saved = JSON.parse(localStorage.getItem(KEY) || "null");
      if (saved && typeof saved.sender === "string" && Array.isArray(saved.transcript)) {
        if (idle(saved)) {
          localStorage.removeItem(KEY);
          return fresh(false);
        }
        saved.pending = Array.isArray(saved.pending) ? saved.pending : [];
        return saved;
      }
    } catch (e) { /* corrupted or blocked storage: start afresh */ }
    return fresh(false);
  }
  var state = load();

  // What the device keeps: never a name or a number. Answers to the forms' name and number
  // questions are not stored at all; elsewhere phone numbers and e-mail addresses are masked.
  var PHONE = /(?:\+|\b)(?:\d[\s().-]*){8,}\d\b/g;
  var EMAIL = /[^\s@<>()]+@[^\s@<>()]+\.[a-z]{2,}/gi;
  var PERSONAL_QUESTION = /\b(?:full name|your name|patient's name|mobile number|phone number|e-?mail)\b[^?]*\?/i;
  function masked(text) {
    return String(text || "").replace(EMAIL, "(e-mail address)").replace(PHONE, "(number)");
  }
  // The patient's own answers to those questions come back in the bot's replies ("Thank you,
  // Asha Verma"): they are hidden there too, each word of them.
  // Words of an answer that are not the name itself ("my name is Ravi").
  var COMMON = /^(?:my|name|is|the|patient|patients|his|her|its|and|mr|mrs|ms|dr|shri|smt|number|mobile|phone|naam|hai|mera|meri)$/i;
  function hideAll(text, secrets) {
    secrets.forEach(function (secret) {
      String(secret).split(/[\s,.;:]+/).filter(function (w) {
        return w.length >= 3 && !COMMON.test(w);
      }).forEach(function (word) {
        var escaped = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        // whole words only: a name must not eat the middle of another word
        text = text.replace(new RegExp("(^|[^\\p{L}\\p{N}])" + escaped + "(?![\\p{L}\\p{N}])", "giu"), "$1…");
      });
    });
    return text;
  }
  function stored(message, secrets) {
    var copy = {};
    Object.keys(message).forEach(function (k) { copy[k] = message[k]; });
    if (message.from === "user") copy.text = message.personal ? HIDDEN : masked(message.text);
    else if (typeof message.text === "string") copy.text = hideAll(masked(message.text), secrets);
    return copy;
  }
  function save() {
    try {
      state.transcript = state.transcript.slice(-200);
      var kept = {};
      Object.keys(state).forEach(function (k) { kept[k] = state[k]; });
      var secrets = state.transcript.filter(function (m) {
        return m.from === "user" && m.personal && m.text !== HIDDEN;
      }).map(function (m) { return m.text; });
      kept.transcript = state.transcript.map(function (m) { return stored(m, secrets); });
      // a message not yet sent is kept as typed, only until the server has it
      localStorage.setItem(KEY, JSON.stringify(kept));
    } catch (e) { /* storage full or disabled: the chat still works for this page */ }
  }
  function touch() {
    if (idle(state) && state.transcript.length) {
      // came back after the idle time with the page still open: start over, as a reload would
      startOver(state.open);
    }
    state.lastActive = Date.now();
  }
  function lastBotMessage() {
    for (var i = state.transcript.length - 1; i >= 0; i--) {
      if (state.transcript[i].from !== "user") return state.transcript[i];
    }
    return null;
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
    log, typing, typingText, status, form,
    el("p", { className: "privacy" }, [
      el("span", { text: "This chat is kept on this device for " + IDLE_MINUTES + " minutes after your last message, without names or numbers. " }),
      el("button", { className: "clear", type: "button", text: "Clear chat", "aria-label": "Clear this chat from this device", onclick: clearChat })
    ])
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
      touch();
      if (!state.transcript.length) addMessage({ from: "bot", text: "Hello! Ask me about minimally invasive spine surgery (MISS): what it is, recovery, risks — or find a specialist and request a consultation." });
      log.scrollTop = log.scrollHeight;
      input.focus();
    } else {
      launcher.focus();
    }
  }

  function startOver(open) {
    // Drop whatever the old conversation still had in flight: its answers must not land here.
    if (inflight) inflight.abort();
    clearTimeout(retryTimer);
    retryTimer = null;
    busy = false;
    attempt = 0;
    setTyping(false);
    try { localStorage.removeItem(KEY); } catch (e) { /* storage blocked: nothing kept anyway */ }
    state = fresh(open);
    log.textContent = "";
    setStatus("");
  }

  function restart() {
    startOver(true);
    save();
    toggle(true);
    input.focus();
  }

  function clearChat() {
    startOver(true);
    toggle(true);
    setStatus("This chat was cleared from this device.");
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
    var out = [], erased = false;
    replies.forEach(function (reply) {
      var custom = reply.custom;
      if (custom && custom.type === "specialist_cards" && Array.isArray(custom.cards)) {
        var previous = out[out.length - 1];
        if (previous && previous.text === custom.text) { out.pop(); }  // its text version
        out.push({ from: "bot", text: custom.intro || "", cards: custom.cards.filter(validCard) });
      } else if (custom && custom.type === "urgent") {
        if (out.length) out[out.length - 1].urgent = true;
      } else if (custom && custom.type === "erased") {
        erased = true;  // "delete my data" was done: this device's copy goes too
      } else if (typeof reply.text === "string") {
        out.push({ from: "bot", text: reply.text, buttons: Array.isArray(reply.buttons) ? reply.buttons.filter(validButton) : [] });
      }
    });
    if (erased) startOver(true);  // the receipt below starts the new conversation's copy
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
    touch();
    var asked = lastBotMessage();
    var personal = !!(asked && PERSONAL_QUESTION.test(asked.text || ""));
    addMessage({ from: "user", text: display, personal: personal });
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
