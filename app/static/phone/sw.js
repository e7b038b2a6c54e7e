/* The phone form's service worker (scope /m/): opens the form with no signal, and sends
 * the outbox by Background Sync where the browser has it.
 *
 * One cache per version of the form (the version is made by the server from the files
 * themselves, and the page asks for its scripts and styles with ?v=<version>), so a page
 * and the files it was written for always travel together. The form page: from the
 * network when there is one (a new release, the language switch), from the cache when
 * there is none or it takes more than a few seconds, whatever its query (?site=&plate= of a
 * scanned plate). Its files, and the vendored QR reader: from the cache. Nothing
 * else is touched: the API goes to the network as usual. The facility list and the
 * outbox live in IndexedDB, never in this cache (no one's data is kept here).
 */
"use strict";

const VERSION = "__VERSION__";
importScripts("/m/outbox.js?v=" + VERSION);

const CACHE = "mp-phone-" + VERSION;
const PAGE = "/m/";
const FILES = [
  "/m/outbox.js?v=" + VERSION, "/m/app.js?v=" + VERSION, "/m/app.css?v=" + VERSION,
  "/m/manifest.webmanifest", "/m/icon.svg", "/m/icon-192.png",
  // the QR reader for browsers without BarcodeDetector (and for those whose detector has no
  // QR format): loaded only to scan, kept for the hills
  "/m/jsQR.js",
];
const NETWORK_WAIT_MS = 4000;

function isPage(response) {
  return response && response.ok && !response.redirected && response.headers.get("X-Phone-Shell");
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(FILES);
    const page = await fetch(PAGE, { credentials: "same-origin" }).catch(() => null);
    if (isPage(page)) {
      await cache.put(PAGE, page);
    } else {
      // signed out, or no signal: keep the page of the version before, until a visit
      // with signal brings this one's
      const before = await caches.match(PAGE);
      if (before) await cache.put(PAGE, before);
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("mp-phone-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function offline() {
  return self.navigator && self.navigator.onLine === false;
}

async function page(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(PAGE);
  if (offline() && cached) return cached;
  const network = fetch(request).then(async (response) => {
    // only the plain /m/ is kept: the page of a query (its language switch returns there)
    // would be shown for /m/ with no signal
    if (isPage(response) && !new URL(request.url).search) await cache.put(PAGE, response.clone());
    return response;
  });
  if (!cached) return network;
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), NETWORK_WAIT_MS));
  try {
    return (await Promise.race([network, timeout])) || cached;
  } catch (error) {
    return cached;
  }
}

async function file(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === PAGE) {
    // /m/?site=..&plate=.. (a scanned plate) is the same page: the cached shell answers it
    // offline, and the page reads the query itself
    event.respondWith(page(request));
  } else if (url.pathname.startsWith("/m/") && FILES.some((f) => f.split("?")[0] === url.pathname)) {
    event.respondWith(file(request));
  }
});

async function send() {
  const result = await self.MP.sendAll({ force: true });
  for (const client of await self.clients.matchAll({ type: "window" })) {
    client.postMessage({ type: "outbox", result: result });
  }
  // the page was sending, or reports are still waiting: failing the sync makes the
  // browser schedule it again
  if (result.busy || result.waiting) throw new Error("outbox not empty");
}

self.addEventListener("sync", (event) => {
  if (event.tag === "mp-outbox") event.waitUntil(send());
});
