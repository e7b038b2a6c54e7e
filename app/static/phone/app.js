/* The inspector's phone form: nearest facility, checklist, photos scaled on the phone,
 * position; the report is kept in the outbox (outbox.js) and sent when there is signal.
 * Plain DOM, no library; works offline once the service worker (sw.js) holds the page. */
"use strict";

(function () {
  const MP = window.MP;
  const body = document.body;
  const T = JSON.parse(body.dataset.strings);
  const MAX_PHOTOS = Number(body.dataset.maxPhotos) || 8;
  const LANG = body.dataset.lang === "en" ? "en" : "zh";
  const LONG_SIDE = 1600;
  const JPEG_QUALITY = 0.8;
  const LOOP_MS = 30000;

  const form = document.getElementById("report");
  const select = document.getElementById("facility");
  const search = document.getElementById("site-search");
  const siteHint = document.getElementById("site-hint");
  const positionText = document.getElementById("position");
  const photoInput = document.getElementById("photos");
  const photoList = document.getElementById("photo-list");
  const formError = document.getElementById("form-error");
  const queue = document.getElementById("queue");
  const queueEmpty = document.getElementById("queue-empty");
  const queueCount = document.getElementById("queue-count");
  const receipt = document.getElementById("receipt");
  const banner = document.getElementById("banner");
  const who = document.getElementById("who");
  const submit = form.querySelector("button[type=submit]");
  const editNotice = document.getElementById("editing");
  const scanButton = document.getElementById("scan");
  const scanPanel = document.getElementById("scan-panel");
  const scanVideo = document.getElementById("scan-video");
  const scanStatus = document.getElementById("scan-status");
  const scanned = document.getElementById("scanned");
  const scanMessage = document.getElementById("scan-message");
  const plateInput = document.getElementById("plate-code");

  const state = {
    session: null,       // {user, csrf, lang} of the signed-in inspector (cached offline)
    signedIn: null,      // false once the server said the session is over
    sites: [],           // the township's active facilities
    sitesFetched: null,
    position: null,      // the latest fix: {longitude, latitude, accuracy_m, at}
    chosenByHand: false, // the inspector picked a facility: keep it when the list re-sorts
    photos: [],          // [{blob, url}] scaled, for the report being written
    scaling: Promise.resolve(),
    timer: null,
    editing: null,       // the refused report being fixed: it stays until the fix is saved
    storage: true,       // false where the browser has no IndexedDB
    scanned: null,       // {facility_id, code}: the plate scanned (or typed) for this report
    sitesSettled: false, // the list is as fresh as it gets (fetched, or no signal)
    scanning: null,      // {stream, stop} while the camera looks for a QR code
  };

  function text(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, name) => String(values[name]));
  }

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  // --- distances ----------------------------------------------------------------------

  function metresBetween(lon1, lat1, lon2, lat2) {
    const rad = Math.PI / 180;
    const dLat = (lat2 - lat1) * rad;
    const dLon = (lon2 - lon1) * rad;
    const a = Math.sin(dLat / 2) ** 2 +
      Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
    return 6371008.8 * 2 * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  function distanceText(metres) {
    if (metres >= 10000) return (metres / 1000).toFixed(1) + " " + T.kilometres;
    if (metres >= 1000) return (metres / 1000).toFixed(2) + " " + T.kilometres;
    return Math.round(metres) + " " + T.metres;
  }

  // --- the facility list ----------------------------------------------------------------

  function siteDistance(site) {
    const p = state.position;
    return p ? metresBetween(p.longitude, p.latitude, site.lon, site.lat) : null;
  }

  function orderedSites() {
    const needle = search.value.trim().toLowerCase();
    const rows = state.sites
      .filter((s) => !needle || s.name.toLowerCase().includes(needle) ||
        s.code.toLowerCase().includes(needle) || (s.village || "").toLowerCase().includes(needle))
      .map((s) => ({ site: s, distance: siteDistance(s) }));
    rows.sort((a, b) => {
      if (a.distance !== null && b.distance !== null) return a.distance - b.distance;
      if (a.site.overdue !== b.site.overdue) return a.site.overdue ? -1 : 1;
      return b.site.days_overdue - a.site.days_overdue || a.site.name.localeCompare(b.site.name);
    });
    return rows;
  }

  function renderSites() {
    const previous = select.value;
    const rows = orderedSites();
    const options = rows.map(({ site, distance }) => {
      let label = site.name + "（" + site.code + "）";
      if (distance !== null) label += " · " + distanceText(distance);
      if (site.overdue) label += " · ⚠ " + text(T.overdue, { days: site.days_overdue });
      return el("option", { value: String(site.id), text: label, "data-overdue": String(site.overdue) });
    });
    if (state.editing && !state.sites.some((s) => s.id === state.editing.facility_id)) {
      // the fixed report's site is no longer in the list: the inspector must choose
      options.unshift(el("option", { value: "", text: T.choose_site }));
    }
    select.replaceChildren(...options);
    const wanted = state.scanned ? String(state.scanned.facility_id) : previous;
    if ((state.scanned || state.chosenByHand) && rows.some((r) => String(r.site.id) === wanted)) {
      select.value = wanted;
    } else if (options.length) {
      select.selectedIndex = 0;
    }
    showScanned();
    if (!state.sites.length) siteHint.textContent = T.no_sites;
    else if (!rows.length) siteHint.textContent = T.no_match;
    else describeSite();
  }

  function describeSite() {
    const site = state.sites.find((s) => String(s.id) === select.value);
    if (!site) { siteHint.textContent = ""; return; }
    const parts = [];
    const distance = siteDistance(site);
    if (distance !== null) parts.push(distanceText(distance));
    if (site.village) parts.push(site.village);
    if (state.sitesFetched) parts.push(text(T.list_cached, { when: new Date(state.sitesFetched).toLocaleString() }));
    const overdue = site.overdue
      ? el("strong", { className: "overdue", text: "⚠ " + text(T.overdue, { days: site.days_overdue }) + " · " })
      : null;
    siteHint.replaceChildren(...[overdue, parts.join(" · ")].filter(Boolean));
  }

  async function loadSites() {
    if (!state.storage) return;
    const cached = await MP.Outbox.getMeta("facilities");
    const userId = state.session && state.session.user ? state.session.user.id : null;
    if (cached && (userId === null || cached.user_id === userId)) {
      state.sites = cached.items;
      state.sitesFetched = cached.fetched_at;
      renderSites();
    }
    if (!navigator.onLine || state.signedIn === false || userId === null) {
      state.sitesSettled = true;
      showScanned();
      return;
    }
    try {
      const response = await fetch("/api/v1/map/facilities.geojson?status=active",
        { credentials: "same-origin", headers: { Accept: "application/geo+json" } });
      if (!response.ok) return;
      const collection = await response.json();
      const items = collection.features.map((f) => ({
        id: f.id,
        code: f.properties.code,
        name: f.properties.name,
        village: f.properties.village,
        overdue: Boolean(f.properties.overdue),
        days_overdue: f.properties.days_overdue || 0,
        lon: f.geometry.coordinates[0],
        lat: f.geometry.coordinates[1],
      }));
      const fetched = new Date().toISOString();
      await MP.Outbox.setMeta("facilities", { user_id: userId, fetched_at: fetched, items: items });
      state.sites = items;
      state.sitesFetched = fetched;
      renderSites();
    } catch (error) { /* no signal: the cached list stays */ }
    finally {
      state.sitesSettled = true;
      showScanned();
    }
  }

  // --- who is signed in ---------------------------------------------------------------

  function showWho() {
    const user = state.session && state.session.user;
    if (!user) { who.textContent = ""; return; }
    who.textContent = user.full_name + (user.township ? " · " + user.township.name : "");
  }

  async function loadSession() {
    if (!state.storage) return;
    state.session = await MP.Outbox.getMeta("session");
    showWho();
    if (!navigator.onLine) return;
    try {
      const session = await MP.refreshSession(LANG);
      state.signedIn = Boolean(session);
      if (session) { state.session = session; showWho(); }
    } catch (error) { /* no signal, or the server did not answer */ }
  }

  // --- position -------------------------------------------------------------------------

  function showPosition() {
    const p = state.position;
    positionText.textContent = p
      ? text(T.position_ok, { metres: Math.round(p.accuracy_m) })
      : T.position_none;
  }

  function takeFix(fix) {
    const previous = state.position;
    state.position = {
      longitude: fix.coords.longitude,
      latitude: fix.coords.latitude,
      accuracy_m: Math.round(fix.coords.accuracy * 10) / 10,
      at: fix.timestamp,
    };
    showPosition();
    const moved = !previous || metresBetween(previous.longitude, previous.latitude,
      state.position.longitude, state.position.latitude) > 15;
    if (moved) renderSites();
    else describeSite();
  }

  function watchPosition() {
    if (!navigator.geolocation) { showPosition(); return; }
    navigator.geolocation.watchPosition(takeFix, () => { if (!state.position) showPosition(); },
      { enableHighAccuracy: true, maximumAge: 30000, timeout: 30000 });
  }

  /** A fresh fix at submit, waiting at most a few seconds; else the latest one. */
  function freshPosition() {
    if (!navigator.geolocation) return Promise.resolve(state.position);
    return new Promise((resolve) => {
      const fallback = setTimeout(() => resolve(state.position), 5000);
      navigator.geolocation.getCurrentPosition((fix) => {
        clearTimeout(fallback);
        takeFix(fix);
        resolve(state.position);
      }, () => { clearTimeout(fallback); resolve(state.position); },
      { enableHighAccuracy: true, maximumAge: 10000, timeout: 5000 });
    });
  }

  // --- photos: scaled to 1,600 px and re-encoded as JPEG on the phone ------------------

  /** The camera's EXIF block (capture time, GPS) of a JPEG, with its Orientation set to 1
   *  since the pixels are drawn upright; null when there is none. The server reads both. */
  async function exifOf(file) {
    const bytes = new Uint8Array(await file.slice(0, 256 * 1024).arrayBuffer());
    if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
    let at = 2;
    while (at + 4 <= bytes.length && bytes[at] === 0xff) {
      const marker = bytes[at + 1];
      const length = (bytes[at + 2] << 8) | bytes[at + 3];
      if (marker === 0xda || length < 2) break;  // start of the picture itself
      const isExif = marker === 0xe1 && bytes[at + 4] === 0x45 && bytes[at + 5] === 0x78 &&
        bytes[at + 6] === 0x69 && bytes[at + 7] === 0x66;
      if (isExif && at + 2 + length <= bytes.length) {
        const segment = bytes.slice(at, at + 2 + length);
        uprightOrientation(segment);
        return segment;
      }
      at += 2 + length;
    }
    return null;
  }

  function uprightOrientation(segment) {
    const tiff = 10;  // FF E1, length, "Exif\0\0"
    const view = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
    if (tiff + 8 > view.byteLength) return;
    const little = view.getUint16(tiff) === 0x4949;
    const ifd = tiff + view.getUint32(tiff + 4, little);
    if (ifd + 2 > view.byteLength) return;
    const entries = view.getUint16(ifd, little);
    for (let i = 0; i < entries; i++) {
      const entry = ifd + 2 + i * 12;
      if (entry + 12 > view.byteLength) return;
      if (view.getUint16(entry, little) === 0x0112) view.setUint16(entry + 8, 1, little);
    }
  }

  async function scaled(file) {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const ratio = Math.min(1, LONG_SIDE / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * ratio));
    const height = Math.max(1, Math.round(bitmap.height * ratio));
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    canvas.width = canvas.height = 0;
    if (!blob) throw new Error("encode failed");
    const exif = await exifOf(file).catch(() => null);
    if (!exif) return blob;
    // the new JPEG with the camera's EXIF right after its start-of-image marker
    return new Blob([blob.slice(0, 2), exif, blob.slice(2)], { type: "image/jpeg" });
  }

  function renderPhotos() {
    const items = state.photos.map((photo, index) => {
      const remove = el("button", { type: "button", text: "×", title: T.remove_photo });
      remove.setAttribute("aria-label", T.remove_photo + " " + (index + 1));
      remove.addEventListener("click", () => {
        URL.revokeObjectURL(photo.url);
        state.photos.splice(index, 1);
        renderPhotos();
      });
      return el("li", {}, [el("img", { src: photo.url, alt: T.photo + " " + (index + 1) }), remove]);
    });
    photoList.replaceChildren(...items);
  }

  photoInput.addEventListener("change", () => {
    const files = Array.from(photoInput.files || []);
    photoInput.value = "";
    state.scaling = state.scaling.then(async () => {
      const problems = new Set();
      for (const file of files) {
        if (state.photos.length >= MAX_PHOTOS) { problems.add(T.too_many_photos); break; }
        try {
          const blob = await scaled(file);
          state.photos.push({ blob: blob, url: URL.createObjectURL(blob) });
        } catch (error) {
          problems.add(T.not_image + (file.name ? "：" + file.name : ""));
        }
      }
      showError(Array.from(problems).join("；"));
      renderPhotos();
    });
  });

  // --- the site's QR plate: /m/?site=&plate= (from /f/{code}), the camera, or typed ----------

  /* The plate code of app/plates/codes.py read back here, so that a scan chooses the site
   * with no signal: 7 base-31 digits of (id × M + OFFSET) mod 31⁷ and a check character. */
  const PLATE = {
    alphabet: "23456789ABCDEFGHJKMNPQRSTUVWXYZ",
    modulus: 27512614111n,
    offset: 3141592653n,
    inverse: 11196247608n,  // of the multiplier 9876543211, modulo 31⁷
  };

  /** The facility id a plate code names, or null (any case, blanks around it ignored). */
  function decodePlate(code) {
    const text = String(code || "").trim().toUpperCase();
    if (text.length !== 8) return null;
    const digits = [];
    for (const ch of text) {
      const value = PLATE.alphabet.indexOf(ch);
      if (value < 0) return null;
      digits.push(value);
    }
    const check = digits.pop();
    if (digits.reduce((sum, d, i) => sum + (i + 1) * d, 0) % 31 !== check) return null;
    let n = 0n;
    for (const d of digits) n = n * 31n + BigInt(d);
    const id = (((n - PLATE.offset) * PLATE.inverse) % PLATE.modulus + PLATE.modulus) % PLATE.modulus;
    return id > 0n ? Number(id) : null;
  }

  /** The plate code a QR code holds: a URL ending in /f/{code}, or the bare code. */
  function plateOf(scannedText) {
    const raw = String(scannedText || "").trim();
    let candidate = raw;
    try {
      const path = new URL(raw).pathname;
      const match = /\/f\/([^/]+)\/?$/.exec(path);
      candidate = match ? decodeURIComponent(match[1]) : "";
    } catch (error) { /* not a URL: perhaps the code itself */ }
    return decodePlate(candidate) === null ? null : candidate.trim().toUpperCase();
  }

  function showScanMessage(message) {
    scanMessage.textContent = message || "";
    scanMessage.hidden = !message;
  }

  /** The mark "scanned · plate CODE" under the list, or why the plate's site is not there. */
  function showScanned() {
    const plate = state.scanned;
    const site = plate && state.sites.find((s) => s.id === plate.facility_id);
    scanned.hidden = !(site && select.value === String(site.id));
    if (!scanned.hidden) {
      scanned.textContent = text(T.scanned, { code: plate.code });
      if (scanMessage.dataset.kind === "elsewhere") showScanMessage("");
    } else if (plate && !site && state.sitesSettled) {
      showScanMessage(text(T.plate_elsewhere, { code: plate.code }));
      scanMessage.dataset.kind = "elsewhere";
    }
  }

  /** Chooses the site of a plate (scanned, typed, or handed over in the address). */
  function choosePlate(code) {
    const id = decodePlate(code);
    if (id === null) {
      showScanMessage(text(T.plate_invalid, { code: String(code).trim().slice(0, 16) }));
      scanMessage.dataset.kind = "invalid";
      return false;
    }
    showScanMessage("");
    scanMessage.dataset.kind = "";
    state.scanned = { facility_id: id, code: String(code).trim().toUpperCase() };
    search.value = "";
    renderSites();
    return true;
  }

  function forgetPlate() {
    state.scanned = null;
    scanned.hidden = true;
    if (scanMessage.dataset.kind === "elsewhere") showScanMessage("");
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = el("script", { src: src });
      script.onload = resolve;
      script.onerror = reject;
      document.head.append(script);
    });
  }

  /** A function that reads a QR code off the video, or throws. The browser's own detector
   *  where it has one for QR codes, else jsQR (vendored, served at /m/jsQR.js; loaded only
   *  now, kept by the service worker for no signal). */
  async function qrReader() {
    if ("BarcodeDetector" in window) {
      let formats = ["qr_code"];
      if (typeof BarcodeDetector.getSupportedFormats === "function") {
        formats = await BarcodeDetector.getSupportedFormats().catch(() => formats);
      }
      if (formats.includes("qr_code")) {
        const detector = new BarcodeDetector({ formats: ["qr_code"] });
        return async () => {
          const found = await detector.detect(scanVideo);
          return found.length ? found[0].rawValue : null;
        };
      }
    }
    if (!window.jsQR) await loadScript("/m/jsQR.js");
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return async () => {
      const width = scanVideo.videoWidth;
      const height = scanVideo.videoHeight;
      if (!width || !height) return null;
      const scale = Math.min(1, 800 / Math.max(width, height));
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      context.drawImage(scanVideo, 0, 0, canvas.width, canvas.height);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
      return found ? found.data : null;
    };
  }

  function stopScan() {
    const scanning = state.scanning;
    state.scanning = null;
    if (scanning && scanning.stream) for (const track of scanning.stream.getTracks()) track.stop();
    scanVideo.srcObject = null;
    scanVideo.hidden = true;
  }

  function closeScan() {
    stopScan();
    scanPanel.hidden = true;
    scanButton.setAttribute("aria-expanded", "false");
  }

  function cameraUnavailable(message) {
    stopScan();
    scanStatus.textContent = message;
    plateInput.focus();
  }

  async function startScan() {
    stopScan();
    scanPanel.hidden = false;
    scanButton.setAttribute("aria-expanded", "true");
    scanStatus.textContent = T.scan_looking;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraUnavailable(T.camera_unavailable);
      return;
    }
    const scanning = { stream: null };
    state.scanning = scanning;
    try {
      scanning.stream = await navigator.mediaDevices.getUserMedia(
        { video: { facingMode: { ideal: "environment" } }, audio: false });
    } catch (error) {
      if (state.scanning === scanning) cameraUnavailable(T.camera_unavailable);
      return;
    }
    if (state.scanning !== scanning) { for (const t of scanning.stream.getTracks()) t.stop(); return; }
    scanVideo.srcObject = scanning.stream;
    scanVideo.hidden = false;
    await scanVideo.play().catch(() => null);
    let read;
    try {
      read = await qrReader();
    } catch (error) {
      if (state.scanning === scanning) cameraUnavailable(T.reader_unavailable);
      return;
    }
    while (state.scanning === scanning) {
      const value = await read().catch(() => null);
      if (state.scanning !== scanning) return;
      if (value) {
        const code = plateOf(value);
        if (code) {
          closeScan();
          choosePlate(code);
          select.focus();
          return;
        }
        scanStatus.textContent = T.not_a_plate;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  function typedPlate() {
    const code = plateInput.value;
    if (!code.trim()) { plateInput.focus(); return; }
    if (choosePlate(code)) {
      plateInput.value = "";
      closeScan();
      select.focus();
    } else {
      // said beside the field being typed in, once
      scanStatus.textContent = scanMessage.textContent;
      showScanMessage("");
      plateInput.focus();
    }
  }

  scanButton.addEventListener("click", () => { if (scanPanel.hidden) startScan(); else closeScan(); });
  document.getElementById("scan-close").addEventListener("click", closeScan);
  document.getElementById("plate-go").addEventListener("click", typedPlate);
  plateInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); typedPlate(); }
  });

  /** /m/?site={id}&plate={CODE}: where /f/{code} sends a signed-in inspector. */
  function plateFromAddress() {
    const query = new URLSearchParams(window.location.search);
    const plate = (query.get("plate") || "").slice(0, 16);
    const site = query.get("site");
    if (!plate && !site) return;
    if (!plate || (site && String(decodePlate(plate)) !== site)) {
      showScanMessage(text(T.plate_invalid, { code: plate || site.slice(0, 16) }));
      scanMessage.dataset.kind = "invalid";
      return;
    }
    choosePlate(plate);
  }

  // for the tests: the same codes as the server's
  MP.plates = { decode: decodePlate, plateOf: plateOf };

  // --- the report -------------------------------------------------------------------------

  function showError(message) {
    formError.textContent = message;
    formError.hidden = !message;
  }

  function checklistAnswers() {
    const answers = {};
    for (const input of form.querySelectorAll("input[type=radio][name^='checklist.']:checked")) {
      answers[input.name.slice("checklist.".length)] = input.value;
    }
    return answers;
  }

  function resetForm() {
    state.editing = null;
    editNotice.hidden = true;
    form.reset();
    for (const photo of state.photos) URL.revokeObjectURL(photo.url);
    state.photos = [];
    renderPhotos();
    state.chosenByHand = false;
    forgetPlate();
    closeScan();
    if (window.location.search) window.history.replaceState(null, "", window.location.pathname);
    search.value = "";
    renderSites();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const site = state.sites.find((s) => String(s.id) === select.value);
    const condition = form.querySelector("input[name=condition]:checked");
    if (!site) { showError(T.choose_site); select.focus(); return; }
    if (!condition) { showError(T.choose_condition); form.querySelector("input[name=condition]").focus(); return; }
    if (!state.storage) { showError(T.storage_unavailable); return; }
    submit.disabled = true;
    try {
      await state.scaling;
      const fixing = state.editing;
      // a fixed report keeps the moment and the place of the visit; a new one takes them now
      const position = fixing ? fixing.position : await freshPosition();
      const notes = form.elements.notes.value.trim();
      const report = {
        client_id: MP.newClientId(),
        user_id: state.session && state.session.user ? state.session.user.id : null,
        facility_id: site.id,
        facility_name: site.name,
        facility_code: site.code,
        plate_code: state.scanned && state.scanned.facility_id === site.id ? state.scanned.code : null,
        inspected_at: fixing ? fixing.inspected_at : new Date().toISOString(),
        created_at: new Date().toISOString(),
        condition: condition.value,
        checklist: checklistAnswers(),
        notes: notes || null,
        position: position
          ? { longitude: position.longitude, latitude: position.latitude, accuracy_m: position.accuracy_m, crs: "wgs84" }
          : null,
        fixes: fixing ? fixing.client_id : null,
        state: "waiting",
        attempts: 0,
      };
      try {
        await MP.Outbox.add(report, state.photos.map((p) => p.blob), fixing);
      } catch (error) {
        showError(T.storage_failed);
        return;
      }
      // ask the browser not to clear this site's storage when the phone runs short
      if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => null);
      resetForm();
      flash(T.saved);
      await renderQueue();
      window.scrollTo({ top: 0, behavior: "smooth" });
      requestSync();
      trySend(true);
    } finally {
      submit.disabled = false;
    }
  });

  function flash(message) {
    banner.textContent = message;
    banner.hidden = false;
  }

  function requestSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready
      .then((registration) => registration.sync && registration.sync.register("mp-outbox"))
      .catch(() => null);
  }

  // --- the outbox on screen ----------------------------------------------------------------

  function stateLabel(report) {
    return { waiting: T.waiting, sending: T.sending, sent: T.sent, refused: T.refused }[report.state] || report.state;
  }

  function button(label, className, action) {
    const node = el("button", { type: "button", className: "secondary " + (className || ""), text: label });
    node.addEventListener("click", action);
    return node;
  }

  /** Back into the form to fix: the refused report stays in the outbox until the fixed
   *  one is saved (then both change places in one transaction). */
  async function editReport(report) {
    const blobs = [];
    for (const photo of report.photos) {
      const blob = await MP.Outbox.photo(report.client_id, photo.n);
      if (blob && !photo.refused) blobs.push(blob);
    }
    resetForm();
    state.editing = report;
    editNotice.hidden = false;
    state.chosenByHand = state.sites.some((s) => s.id === report.facility_id);
    if (report.plate_code) state.scanned = { facility_id: report.facility_id, code: report.plate_code };
    renderSites();
    if (state.chosenByHand) {
      select.value = String(report.facility_id);
      describeSite();
    }
    const condition = form.querySelector("input[name=condition][value='" + report.condition + "']");
    if (condition) condition.checked = true;
    for (const [item, answer] of Object.entries(report.checklist || {})) {
      const input = form.querySelector("input[name='checklist." + item + "'][value='" + answer + "']");
      if (input) input.checked = true;
    }
    form.elements.notes.value = report.notes || "";
    state.photos = blobs.map((blob) => ({ blob: blob, url: URL.createObjectURL(blob) }));
    renderPhotos();
    showError(report.reason || "");
    form.scrollIntoView({ behavior: "smooth" });
  }

  function itemFor(report) {
    const photos = report.photos || [];
    const sentPhotos = photos.filter((p) => p.sent).length;
    const when = new Date(report.inspected_at).toLocaleString();
    const children = [
      el("div", { className: "title", text: report.facility_name + "（" + report.facility_code + "）" }),
      el("div", { className: "meta", text: when + (photos.length ? " · " + T.photos + " " + sentPhotos + "/" + photos.length : "") +
        (report.plate_code ? " · " + text(T.scanned, { code: report.plate_code }) : "") }),
      el("div", { className: "state", text: stateLabel(report) }),
    ];
    if (report.state === "sent" && report.sent_at) {
      children.push(el("div", { className: "meta", text: T.sent_at + " " + new Date(report.sent_at).toLocaleString() }));
    }
    if (report.receipt) {
      children.push(el("div", { className: "receipt-line" }, [T.receipt + " ", el("strong", { className: "receipt", text: report.receipt })]));
    }
    if (report.state === "refused" && report.reason) {
      children.push(el("p", { className: "reason", text: report.reason }));
    } else if (MP.isWaiting(report) && report.blocked === "signin") {
      children.push(el("p", { className: "meta", text: T.signin_needed }));
    } else if (MP.isWaiting(report) && report.blocked === "other_user") {
      children.push(el("p", { className: "meta", text: T.other_user }));
    }
    const actions = [];
    if (report.state === "refused") {
      const refusedPhoto = photos.find((p) => p.refused);
      if (report.inspection_id && refusedPhoto) {
        actions.push(button(T.drop_photo, "", async () => {
          refusedPhoto.sent = true;  // given up: the rest of the report goes on
          report.state = "waiting";
          report.reason = null;
          await MP.Outbox.put(report);
          await MP.Outbox.dropPhotos(report.client_id, [refusedPhoto.n]);
          trySend(true);
        }));
      }
      if (!report.inspection_id) actions.push(button(T.edit, "", () => editReport(report)));
      actions.push(button(T.resend, "", async () => {
        report.state = "waiting";
        report.reason = null;
        report.csrf_retried = false;
        for (const p of photos) p.refused = null;
        await MP.Outbox.put(report);
        trySend(true);
      }));
      actions.push(button(T.delete, "danger", async () => {
        if (!window.confirm(T.confirm_delete)) return;
        await MP.Outbox.remove(report);
        renderQueue();
      }));
    } else if (MP.isWaiting(report) && navigator.onLine) {
      actions.push(button(T.resend, "", () => trySend(true)));
    }
    if (actions.length) children.push(el("div", { className: "actions" }, actions));
    return el("li", { "data-client-id": report.client_id, "data-state": report.state }, children);
  }

  async function renderQueue() {
    if (!state.storage) return [];
    const reports = await MP.Outbox.all();
    queue.replaceChildren(...reports.map(itemFor));
    queueEmpty.hidden = reports.length > 0;
    queueCount.textContent = String(reports.filter(MP.isWaiting).length);
    receipt.textContent = (await MP.Outbox.getMeta("last_receipt")) || "—";
    return reports;
  }

  /** The one line at the top: sign in again, no signal, reports refused, or nothing. */
  function showBanner(stopped, reports) {
    const refused = (reports || []).filter((r) => r.state === "refused").length;
    if (stopped === "signin" || state.signedIn === false) {
      banner.replaceChildren(el("a", { href: "/m/signin?next=/m/&reason=expired", text: T.signin_needed }));
    } else if (!navigator.onLine || stopped === "offline") {
      banner.textContent = T.offline;
    } else if (refused) {
      banner.replaceChildren(el("a", { href: "#outbox-heading", text: text(T.refused_count, { count: refused }) }));
    } else if (stopped === "later") {
      banner.textContent = T.try_later;
    } else {
      banner.replaceChildren();
    }
    banner.hidden = !banner.textContent;
  }

  // --- sending -------------------------------------------------------------------------------

  let sending = false;
  let redraw = null;

  /** The outbox on screen again, at most once at a time (sending calls it often). */
  function queueChanged() {
    if (!redraw) redraw = renderQueue().catch(() => []).finally(() => { redraw = null; });
  }

  async function trySend(force) {
    if (sending || !state.storage) return;
    sending = true;
    let stopped;
    let reports = [];
    try {
      if (!navigator.onLine) { showBanner("offline", await MP.Outbox.all()); return; }
      const result = await MP.sendAll({ force: force, lang: LANG, onChange: queueChanged });
      if (result.busy) return;  // the service worker is sending: it tells us when done
      if (result.stopped === "signin") state.signedIn = false;
      else if (result.stopped !== "later") state.signedIn = true;
      if (result.waiting) requestSync();  // so the browser sends them after the tab is gone
      stopped = result.stopped;
    } catch (error) {
      stopped = "later";
    } finally {
      sending = false;
      reports = await renderQueue().catch(() => []);
      if (stopped !== undefined) showBanner(stopped, reports);
      scheduleRetry(reports);
    }
  }

  /** The next attempt: when the earliest waiting report is due, within the 30 s loop. */
  function scheduleRetry(reports) {
    clearTimeout(state.timer);
    const due = reports.filter((r) => MP.isWaiting(r) && r.next_try).map((r) => Date.parse(r.next_try));
    if (!due.length) return;
    const wait = Math.max(1000, Math.min(...due) - Date.now());
    if (wait < LOOP_MS) state.timer = setTimeout(() => trySend(false), wait);
  }

  // --- start -----------------------------------------------------------------------------------

  select.addEventListener("change", () => {
    state.chosenByHand = true;
    // another site than the plate's: the report no longer carries the plate
    if (state.scanned && String(state.scanned.facility_id) !== select.value) forgetPlate();
    describeSite();
  });
  document.getElementById("rest-sound").addEventListener("click", () => {
    for (const item of form.querySelectorAll(".checklist .item")) {
      if (!item.querySelector("input:checked")) item.querySelector("input[value=ok]").checked = true;
    }
  });
  search.addEventListener("input", renderSites);

  // signing out with reports still waiting asks first (they stay for the next sign-in)
  document.getElementById("signout").addEventListener("submit", (event) => {
    event.preventDefault();
    const signout = event.target;
    MP.Outbox.all().catch(() => []).then(async (reports) => {
      const waiting = reports.filter(MP.isWaiting).length;
      if (waiting && !window.confirm(T.confirm_signout)) return;
      // the next inspector on this phone starts with no one's session
      await MP.Outbox.setMeta("session", null).catch(() => null);
      signout.submit();
    });
  });

  window.addEventListener("online", async () => {
    await loadSession();
    trySend(true);
    loadSites();
  });
  window.addEventListener("offline", () => {
    MP.Outbox.all().catch(() => []).then((r) => showBanner("offline", r));
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") trySend(false);
  });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data && event.data.type === "outbox") {
        renderQueue().then((reports) => showBanner(event.data.result.stopped, reports)).catch(() => null);
      }
    });
    navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => null);
  }

  (async () => {
    positionText.textContent = T.position_wait;
    plateFromAddress();
    watchPosition();
    try {
      await MP.Outbox.setMeta("strings", { photo: T.photo });
    } catch (error) {
      state.storage = false;  // no IndexedDB (a private window, some in-app browsers)
      showError(T.storage_unavailable);
      submit.disabled = true;
      return;
    }
    await renderQueue();
    await loadSession();
    await loadSites();
    trySend(true);
    setInterval(() => trySend(false), LOOP_MS);
  })();
})();
