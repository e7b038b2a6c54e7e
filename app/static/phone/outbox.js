/* The phone's outbox: reports and their photos kept in IndexedDB until the server has
 * answered each of them. Shared by the page (app.js) and the service worker (sw.js), which
 * both call MP.sendAll(); a Web Lock lets only one of them send at a time.
 *
 * A report is stored with its client_id before anything is sent. Sending is: the report
 * (POST /api/v1/inspections), then each photo (POST /api/v1/inspections/{id}/photos).
 * Each step is retried until the server answers; resending is harmless, since the server
 * answers a client_id it knows with the stored report, and the same photo bytes with the
 * stored photo. A 4xx answer is the server's refusal: the report keeps it as its reason
 * and waits for the inspector. A 401 means signing in again; nothing is dropped. One 409
 * is no refusal: a client_id another township's report already holds (the server says so
 * with X-Client-Id-Taken) gives the report a new client_id, and it goes out again at once.
 */
"use strict";

(function (scope) {
  const DB_NAME = "memorial-patrol";
  const DB_VERSION = 1;
  const RETRY_MIN_MS = 5000;
  const RETRY_MAX_MS = 30000;  // the form's own loop: every 30 s while it is open
  const SENT_KEPT_MS = 7 * 24 * 3600 * 1000;

  let opening = null;

  function promised(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  function db() {
    if (!opening) {
      opening = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, DB_VERSION);
        request.onupgradeneeded = () => {
          const base = request.result;
          base.createObjectStore("reports", { keyPath: "client_id" });
          base.createObjectStore("photos", { keyPath: "key" });
          base.createObjectStore("meta", { keyPath: "key" });
        };
        request.onsuccess = () => {
          const base = request.result;
          base.onversionchange = () => { base.close(); opening = null; };
          resolve(base);
        };
        request.onerror = () => { opening = null; reject(request.error); };
      });
    }
    return opening;
  }

  /** Runs fn(stores) in one transaction; resolves with fn's result once it has committed. */
  async function transaction(names, mode, fn) {
    const base = await db();
    return new Promise((resolve, reject) => {
      const tx = base.transaction(names, mode);
      const stores = {};
      for (const name of names) stores[name] = tx.objectStore(name);
      let result;
      Promise.resolve(fn(stores)).then((value) => { result = value; }, (error) => {
        try { tx.abort(); } catch (ignored) { /* already finished */ }
        reject(error);
      });
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
    });
  }

  const Outbox = {
    /** Stores a new report and its photo blobs together: all or nothing. A report fixed
     *  after a refusal (``replaces``) leaves the outbox in the same transaction. */
    add(report, blobs, replaces) {
      report.photos = blobs.map((_, n) => ({ n: n, sent: false, refused: null }));
      return transaction(["reports", "photos"], "readwrite", (s) => {
        if (replaces) {
          s.reports.delete(replaces.client_id);
          (replaces.photos || []).forEach((p) => s.photos.delete(replaces.client_id + "/" + p.n));
        }
        s.reports.put(report);
        blobs.forEach((blob, n) => s.photos.put({ key: report.client_id + "/" + n, blob: blob }));
      });
    },
    async all() {
      const rows = await transaction(["reports"], "readonly", (s) => promised(s.reports.getAll()));
      return rows.sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
    },
    get(clientId) {
      return transaction(["reports"], "readonly", (s) => promised(s.reports.get(clientId)));
    },
    put(report) {
      return transaction(["reports"], "readwrite", (s) => { s.reports.put(report); });
    },
    async photo(clientId, n) {
      const row = await transaction(["photos"], "readonly", (s) =>
        promised(s.photos.get(clientId + "/" + n)));
      return row ? row.blob : null;
    },
    /** Gives a report a new client_id, its photos moving with it: all or nothing. */
    async renew(report, clientId) {
      const old = report.client_id;
      await transaction(["reports", "photos"], "readwrite", async (s) => {
        for (const p of report.photos || []) {
          const row = await promised(s.photos.get(old + "/" + p.n));
          if (row) s.photos.put({ key: clientId + "/" + p.n, blob: row.blob });
          s.photos.delete(old + "/" + p.n);
        }
        s.reports.delete(old);
        s.reports.put(Object.assign({}, report, { client_id: clientId }));
      });
      report.client_id = clientId;
    },
    dropPhotos(clientId, numbers) {
      return transaction(["photos"], "readwrite", (s) => {
        numbers.forEach((n) => s.photos.delete(clientId + "/" + n));
      });
    },
    remove(report) {
      return transaction(["reports", "photos"], "readwrite", (s) => {
        s.reports.delete(report.client_id);
        (report.photos || []).forEach((p) => s.photos.delete(report.client_id + "/" + p.n));
      });
    },
    async getMeta(key) {
      const row = await transaction(["meta"], "readonly", (s) => promised(s.meta.get(key)));
      return row ? row.value : null;
    },
    setMeta(key, value) {
      return transaction(["meta"], "readwrite", (s) => { s.meta.put({ key: key, value: value }); });
    },
  };

  /** Waiting: "waiting" or "sending" (an interrupted send is waiting again). */
  function isWaiting(report) {
    return report.state === "waiting" || report.state === "sending";
  }

  function reportBody(report) {
    const body = {
      client_id: report.client_id,
      facility_id: report.facility_id,
      inspected_at: report.inspected_at,
      condition: report.condition,
      checklist: report.checklist,
    };
    if (report.notes) body.notes = report.notes;
    if (report.position) body.position = report.position;
    if (report.plate_code) body.plate_code = report.plate_code;  // begun by scanning the plate
    return body;
  }

  /** The server's reason, as it gave it (in the phone's language). */
  async function reasonOf(response) {
    try {
      const body = await response.json();
      const detail = body.detail;
      if (typeof detail === "string") return detail;
      if (Array.isArray(detail)) {
        return detail.map((d) => (d && d.msg) || String(d)).join("; ");
      }
    } catch (ignored) { /* not JSON */ }
    return "HTTP " + response.status;
  }

  function transient(status) {
    return status === 408 || status === 425 || status === 429 || status >= 500;
  }

  class Stop extends Error {
    constructor(kind) { super(kind); this.kind = kind; }
  }

  // how long an answer may take before the request counts as unanswered (and is retried)
  const TIMEOUT_MS = { report: 60000, photo: 180000 };

  function post(url, body, session, kind) {
    const headers = {
      "Accept": "application/json",
      "Accept-Language": session.lang === "en" ? "en" : "zh-CN,zh;q=0.9",
      "X-CSRF-Token": session.csrf,
    };
    if (kind === "report") headers["Content-Type"] = "application/json";
    const options = {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",  // a captive portal's page is no answer from the server
      headers: headers,
      body: kind === "report" ? JSON.stringify(body) : body,
    };
    if (typeof AbortSignal !== "undefined" && AbortSignal.timeout) {
      options.signal = AbortSignal.timeout(TIMEOUT_MS[kind]);
    }
    return fetch(url, options);
  }

  /** The server's JSON answer with ``fields``; anything else is no answer (try again). */
  async function answerOf(response, fields) {
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("json")) throw new Stop("later");
    const body = await response.json().catch(() => null);
    if (!body || fields.some((f) => body[f] === undefined || body[f] === null)) throw new Stop("later");
    return body;
  }

  /** What an answer that is not a success means for the report: stop all sending (sign
   *  in again), try later, or a refusal kept on the report. */
  async function judge(response, report, what) {
    if (response.status === 401) throw new Stop("signin");
    if (response.status === 403 && !report.csrf_retried) {
      report.csrf_retried = true;  // a stale token: fetch a fresh one, then once more
      throw new Stop("session");
    }
    if (transient(response.status)) throw new Stop("later");
    const reason = await reasonOf(response);
    report.state = "refused";
    report.reason = what ? what + ": " + reason : reason;
    report.refused_status = response.status;
    return false;
  }

  async function sendOne(report, session, strings, changed) {
    report.state = "sending";
    await Outbox.put(report);
    changed();
    if (!report.inspection_id) {
      let response = await post("/api/v1/inspections", reportBody(report), session, "report");
      if (response.status === 409 && response.headers.get("X-Client-Id-Taken")) {
        // another township's report holds this id (never one of this phone's): a new id
        await Outbox.renew(report, newClientId());
        changed();
        response = await post("/api/v1/inspections", reportBody(report), session, "report");
      }
      if (!response.ok) return judge(response, report, null);
      const stored = await answerOf(response, ["id", "receipt"]);
      report.inspection_id = stored.id;
      report.receipt = stored.receipt;
      report.on_site = stored.on_site;
      report.csrf_retried = false;
      await Outbox.put(report);
      changed();
    }
    for (const photo of report.photos) {
      if (photo.sent || photo.refused) continue;
      const blob = await Outbox.photo(report.client_id, photo.n);
      if (!blob) { photo.sent = true; continue; }
      const form = new FormData();
      form.append("file", blob, "photo-" + (photo.n + 1) + ".jpg");
      const url = "/api/v1/inspections/" + report.inspection_id + "/photos";
      const response = await post(url, form, session, "photo");
      if (!response.ok) {
        const label = ((strings && strings.photo) || "Photo") + " " + (photo.n + 1);
        const kept = await judge(response, report, label);
        if (!kept) photo.refused = report.reason;
        return kept;
      }
      await answerOf(response, ["id"]);
      photo.sent = true;
      report.csrf_retried = false;
      await Outbox.put(report);
      changed();
    }
    report.state = "sent";
    report.reason = null;
    report.sent_at = new Date().toISOString();
    await Outbox.put(report);
    await Outbox.dropPhotos(report.client_id, report.photos.map((p) => p.n));
    await Outbox.setMeta("last_receipt", report.receipt);
    return true;
  }

  /** Who is signed in now, and a fresh CSRF token; null when nobody is (401). */
  async function refreshSession(lang) {
    const response = await fetch("/m/session.json", {
      credentials: "same-origin", cache: "no-store", redirect: "error",
    });
    if (response.status === 401) {
      await Outbox.setMeta("session", null);
      return null;
    }
    if (!response.ok) throw new Stop("later");
    const answer = await answerOf(response, ["user", "csrf"]);
    const session = { user: answer.user, csrf: answer.csrf, lang: lang };
    await Outbox.setMeta("session", session);
    return session;
  }

  function withLock(fn) {
    if (scope.navigator && scope.navigator.locks) {
      return scope.navigator.locks.request("mp-outbox", { ifAvailable: true },
        (lock) => (lock ? fn() : { busy: true }));
    }
    if (scope.__mpSending) return Promise.resolve({ busy: true });
    scope.__mpSending = true;
    return Promise.resolve().then(fn).finally(() => { scope.__mpSending = false; });
  }

  function online() {
    return !(scope.navigator && scope.navigator.onLine === false);
  }

  /**
   * Sends every waiting report whose time has come (all of them with {force: true}).
   * Resolves with {sent, waiting, stopped, busy}: ``waiting`` is how many are still to go,
   * ``stopped`` is "signin", "offline", "later" or null, ``busy`` that another sender (the
   * page or the worker) held the outbox. Before sending, it asks the server who is signed
   * in: a report goes out only under the inspector who saved it. ``onChange`` is called
   * whenever a report's state changes, for the screen.
   */
  function sendAll(options) {
    const force = options && options.force;
    const changed = (options && options.onChange) || (() => {});
    return withLock(async () => {
      const strings = await Outbox.getMeta("strings");
      const now = Date.now();
      const reports = (await Outbox.all()).reverse();  // the oldest first
      let session = await Outbox.getMeta("session");
      let sent = 0;
      let stopped = null;
      const due = reports.filter((r) => isWaiting(r) &&
        (force || !r.next_try || Date.parse(r.next_try) <= now));
      if (due.length && online()) {
        try {
          session = await refreshSession(session ? session.lang : (options && options.lang) || "zh");
        } catch (error) {
          stopped = "later";  // no answer: the cached session is not trusted to send
        }
      } else if (due.length) {
        stopped = "offline";
      }
      for (const report of reports) {
        if (report.state === "sending") report.state = "waiting";  // interrupted before
        if (report.state === "sent" && now - Date.parse(report.sent_at) > SENT_KEPT_MS) {
          await Outbox.remove(report);
          continue;
        }
        if (!due.includes(report) || stopped) continue;
        if (!session || !session.user) { stopped = "signin"; continue; }
        if (report.user_id === null || report.user_id === undefined) report.user_id = session.user.id;
        if (report.user_id !== session.user.id) {
          if (report.blocked !== "other_user") { report.blocked = "other_user"; await Outbox.put(report); }
          continue;
        }
        report.blocked = null;
        try {
          let done;
          try {
            done = await sendOne(report, session, strings, changed);
          } catch (error) {
            if (!(error instanceof Stop && error.kind === "session")) throw error;
            // a stale CSRF token: a fresh one, then the same report once more
            session = await refreshSession(session.lang);
            if (!session) throw new Stop("signin");
            done = await sendOne(report, session, strings, changed);
          }
          if (done) sent += 1;
          report.attempts = 0;
          report.next_try = null;
          await Outbox.put(report);
        } catch (error) {
          // no answer (no signal, a lost answer, a timeout) or an answer that says "later"
          report.state = "waiting";
          report.csrf_retried = false;
          if (error instanceof Stop && error.kind === "signin") {
            report.blocked = "signin";
            stopped = "signin";
          } else {
            report.attempts = (report.attempts || 0) + 1;
            const delay = Math.min(RETRY_MIN_MS * 2 ** (report.attempts - 1), RETRY_MAX_MS);
            report.next_try = new Date(Date.now() + delay).toISOString();
            report.blocked = null;
            stopped = stopped || (error instanceof Stop ? error.kind : "offline");
          }
          await Outbox.put(report);
        }
        changed();
      }
      if (stopped === "signin") {
        for (const report of due) {
          if (isWaiting(report) && report.blocked !== "signin") {
            report.blocked = "signin";
            await Outbox.put(report);
          }
        }
      }
      const waiting = (await Outbox.all()).filter(isWaiting).length;
      return { sent: sent, waiting: waiting, stopped: stopped, busy: false };
    });
  }

  /** A new report id: crypto.randomUUID where the page is a secure context, else v4 by hand. */
  function newClientId() {
    if (scope.crypto && scope.crypto.randomUUID) return scope.crypto.randomUUID();
    const bytes = scope.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  scope.MP = {
    Outbox: Outbox,
    sendAll: sendAll,
    refreshSession: refreshSession,
    isWaiting: isWaiting,
    newClientId: newClientId,
  };
})(self);
