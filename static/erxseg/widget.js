/*
 * erxseg website widget: sends events, identify calls and contact properties
 * to the erxseg ingest endpoints. No dependencies. Install it with the
 * snippet in docs/widget.md, which queues calls made before this file loads.
 *
 * Public calls, on window.erxseg and window.Erxes:
 *   sendEvent({name, attributes})
 *   identify({email, phone, code})
 *   updateCustomerProperty(name, value)
 *   updateCustomerProperties([{name, value}, ...])
 *
 * Events wait in an outbox (kept in localStorage, so a reload does not lose
 * them) and go out in batches. A failed batch is retried with exponential
 * back-off under the same idempotency keys, so the server stores each event
 * once. When the page is hidden the outbox is sent with navigator.sendBeacon.
 * Bodies are sent as text/plain with the write key inside, which needs no
 * CORS preflight.
 */
(function (window, document) {
  "use strict";

  var stub = window.erxseg;
  if (stub && stub.loaded) {
    return;
  }

  var PREFIX = "erxseg_";
  var BATCH_SIZE = 100;
  // sendBeacon refuses bodies over 64 KB in most browsers.
  var BEACON_BYTES = 60000;
  var FLUSH_DELAY = 1000;
  var MAX_BACKOFF = 60000;
  var ALPHABET =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  var key = (stub && stub.key) || "";
  var script = document.currentScript;
  var host =
    (stub && stub.host) || (script ? new URL(script.src).origin : "");
  var memory = {};

  function read(name) {
    try {
      return window.localStorage.getItem(PREFIX + name);
    } catch (error) {
      // Storage is blocked (private mode, cookies off): keep it in memory.
      return memory[name] || null;
    }
  }

  function write(name, value) {
    memory[name] = value;
    try {
      window.localStorage.setItem(PREFIX + name, value);
    } catch (error) {
      // Full or blocked storage: the in-memory copy still works.
    }
  }

  // A random id from the browser's cryptographic generator; no
  // fingerprinting. 64 letters, so byte & 63 keeps every letter equally likely.
  function randomId(length) {
    var bytes = new Uint8Array(length);
    var text = "";
    var i;
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (i = 0; i < length; i++) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    for (i = 0; i < length; i++) {
      text += ALPHABET.charAt(bytes[i] & 63);
    }
    return text;
  }

  var visitorId = read("visitor_id");
  if (!visitorId) {
    visitorId = randomId(24);
    write("visitor_id", visitorId);
  }

  function load(name) {
    try {
      return JSON.parse(read(name) || "[]");
    } catch (error) {
      return [];
    }
  }

  // Pending events, and pending identify / property calls: {path, body}.
  var outbox = load("outbox");
  var calls = load("calls");
  var busy = false;
  var backoff = 0;
  var timer = null;

  function save() {
    write("outbox", JSON.stringify(outbox));
    write("calls", JSON.stringify(calls));
  }

  function envelope(fields) {
    fields.write_key = key;
    fields.visitor_id = visitorId;
    fields.sent_at = new Date().toISOString();
    return JSON.stringify(fields);
  }

  function schedule(delay) {
    if (!timer) {
      timer = setTimeout(function () {
        timer = null;
        flush();
      }, delay);
    }
  }

  // The next request: queued calls first, then up to BATCH_SIZE events.
  function next() {
    if (calls.length) {
      return { path: calls[0].path, body: calls[0].body, count: 0 };
    }
    if (outbox.length) {
      var events = outbox.slice(0, BATCH_SIZE);
      return { path: "track", body: { events: events }, count: events.length };
    }
    return null;
  }

  function done(request) {
    if (request.count) {
      outbox.splice(0, request.count);
    } else {
      calls.shift();
    }
    save();
  }

  function flush() {
    var request = next();
    if (busy || !request || !window.fetch) {
      return;
    }
    busy = true;
    window
      .fetch(host + "/api/v1/" + request.path, {
        method: "POST",
        body: envelope(request.body),
        headers: { "Content-Type": "text/plain" },
        keepalive: true,
        credentials: "omit",
      })
      .then(function (response) {
        busy = false;
        // A 4xx other than 429 will fail the same way again: drop it.
        var retry = response.status === 429 || response.status >= 500;
        if (!retry) {
          done(request);
          backoff = 0;
          flush();
          return;
        }
        throw new Error("retry");
      })
      .catch(function () {
        busy = false;
        backoff = Math.min(MAX_BACKOFF, backoff ? backoff * 2 : 1000);
        schedule(backoff * (0.5 + Math.random() / 2));
      });
  }

  function beacon(path, fields) {
    var body = envelope(fields);
    return (
      body.length < BEACON_BYTES &&
      navigator.sendBeacon(
        host + "/api/v1/" + path,
        new Blob([body], { type: "text/plain" })
      )
    );
  }

  // On page hide a fetch may be cut off; a beacon outlives the page.
  function flushOnHide() {
    if (!navigator.sendBeacon || busy) {
      return;
    }
    while (calls.length && beacon(calls[0].path, calls[0].body)) {
      calls.shift();
    }
    var size = Math.min(outbox.length, BATCH_SIZE);
    while (size && !calls.length) {
      if (beacon("track", { events: outbox.slice(0, size) })) {
        outbox.splice(0, size);
        size = Math.min(outbox.length, BATCH_SIZE);
      } else {
        size = Math.floor(size / 2);
      }
    }
    save();
  }

  function call(path, body) {
    calls.push({ path: path, body: body });
    save();
    flush();
  }

  var api = {
    loaded: true,

    sendEvent: function (event) {
      if (!event || !event.name) {
        return;
      }
      outbox.push({
        name: String(event.name),
        attributes: event.attributes || {},
        occurred_at: new Date().toISOString(),
        idempotency_key: randomId(20),
        page_url: String(window.location.href).slice(0, 2000),
      });
      save();
      if (outbox.length >= BATCH_SIZE) {
        flush();
      } else {
        schedule(FLUSH_DELAY);
      }
    },

    identify: function (identity) {
      identity = identity || {};
      call("identify", {
        email: identity.email,
        phone: identity.phone,
        code: identity.code,
      });
    },

    updateCustomerProperty: function (name, value) {
      call("customer-properties", { name: name, value: value });
    },

    updateCustomerProperties: function (properties) {
      // The endpoint takes at most 50 properties per request.
      for (var i = 0; i < properties.length; i += 50) {
        call("customer-properties", { properties: properties.slice(i, i + 50) });
      }
    },

    visitorId: function () {
      return visitorId;
    },
  };

  window.erxseg = api;
  window.Erxes = api;

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      flushOnHide();
    }
  });
  window.addEventListener("pagehide", flushOnHide);

  // Replay the calls the snippet queued before this file loaded.
  if (stub && stub.length) {
    for (var i = 0; i < stub.length; i++) {
      var queued = stub[i];
      if (api[queued[0]]) {
        api[queued[0]].apply(api, queued[1]);
      }
    }
  }
  flush();
})(window, document);
