// The map page: the county's outline and every site of the feed, coloured by patrol state.
//
// Leaflet (vendored, /static/vendor/leaflet/leaflet.js) is loaded as a classic script before
// this module, as the global L. All sites go on ONE canvas (L.canvas + L.circleMarker), so
// tens of thousands stay responsive; popups are built from DOM nodes and textContent, never
// from HTML with data in it. Every word shown comes from the page (data-labels).
//
// The map asks for its view only (the box it shows, with a margin): first the clusters, the
// view's sites counted on a grid by the server (/api/v1/map/clusters); above
// data-cluster-threshold sites it draws those counts (a circle sized by the count, coloured
// by its most urgent site; a click zooms in), otherwise it asks the feed for every site in
// the box and draws each. Panning and zooming ask again when the view leaves what was loaded.

const L = window.L;
const root = document.getElementById("site-map");
const form = document.getElementById("map-filters");
const countLine = document.getElementById("map-count");
const summaryLine = document.getElementById("map-summary");
const messageLine = document.getElementById("map-message");
const data = root.dataset;
const labels = JSON.parse(data.labels);
const today = data.today; // county date, YYYY-MM-DD
const dueSoonDays = Number(data.dueSoonDays);

// Drawn bottom to top: what needs attention lies on top.
const STATES = ["archived", "ok", "due_soon", "overdue"];
/** above this many sites, markers are drawn smaller and without an edge */
const MANY = 5000;
const STYLE = {
  overdue: { fillColor: "#c62828", radius: 7 },
  due_soon: { fillColor: "#e59400", radius: 6 },
  ok: { fillColor: "#2e7d4f", radius: 6 },
  archived: { fillColor: "#8a929c", radius: 5 },
};

/** "%(name)s" placeholders filled from ``values``, as the server's gettext does. */
function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_match, key) => String(values[key] ?? ""));
}

function sites(n) {
  return `${n.toLocaleString("en-US")} ${labels.sites}`;
}

/** Days from ``a`` to ``b`` (both YYYY-MM-DD). */
function daysBetween(a, b) {
  const [ya, ma, da] = a.split("-").map(Number);
  const [yb, mb, db] = b.split("-").map(Number);
  return Math.round((Date.UTC(yb, mb - 1, db) - Date.UTC(ya, ma - 1, da)) / 86400000);
}

const EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const chinese = document.documentElement.lang.startsWith("zh");

const countyDay = new Intl.DateTimeFormat("en-CA", {
  timeZone: data.timezone,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
});

/** 2025年4月4日 in Chinese, 4 Apr 2025 in English, as the server writes dates; a time
 * (UTC, "…Z") is first turned into the county's date. */
function formatDate(value) {
  if (!value) return "—";
  const day = value.length > 10 ? countyDay.format(new Date(value)) : value;
  const [y, m, d] = day.split("-").map(Number);
  return chinese ? `${y}年${m}月${d}日` : `${d} ${EN_MONTHS[m - 1]} ${y}`;
}

/** overdue (red), due within 7 days (amber), on schedule (green), not patrolled (grey). */
function stateOf(properties) {
  if (properties.status !== "active") return "archived";
  if (properties.overdue) return "overdue";
  if (properties.next_due_on && daysBetween(today, properties.next_due_on) <= dueSoonDays) {
    return "due_soon";
  }
  return "ok";
}

// --- the map ---------------------------------------------------------------------------------

const [minLon, minLat, maxLon, maxLat] = JSON.parse(data.bbox);
const countyBounds = L.latLngBounds([minLat, minLon], [maxLat, maxLon]);
const map = L.map(root, {
  preferCanvas: true,
  zoomControl: false,
  zoomSnap: 0.25,
  minZoom: 6,
  maxZoom: 18,
});
L.control.zoom({ zoomInTitle: labels.zoom_in, zoomOutTitle: labels.zoom_out }).addTo(map);
map.fitBounds(countyBounds, { padding: [12, 12] });
root.leafletMap = map; // for the browser tests and a curious console
map.attributionControl.setPrefix("Leaflet");
L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

if (data.tileUrl) {
  // Tianditu serves from t0…t7; other servers from a, b, c
  const subdomains = /tianditu/.test(data.tileUrl) ? "01234567" : "abc";
  const attribution = document.createElement("span");
  attribution.textContent = data.tileAttribution; // shown as text, never as markup
  L.tileLayer(data.tileUrl, {
    attribution: attribution.innerHTML,
    subdomains,
    maxZoom: 18,
  }).addTo(map);
} else {
  root.classList.add("no-tiles");
}

fetch(data.outline, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
  .then((response) => (response.ok ? response.json() : null))
  .then((outline) => {
    if (!outline) return;
    L.geoJSON(outline, {
      interactive: false,
      style: {
        color: "#1f3a5f",
        weight: 2,
        fillColor: "#ffffff",
        fillOpacity: data.tileUrl ? 0.1 : 0.9,
      },
    }).addTo(map);
  })
  .catch(() => {}); // the sites still show without the outline

map.createPane("sites").classList.add("sites-pane");
const renderer = L.canvas({ pane: "sites", padding: 0.3 });
let siteLayer = null;

function popupFor(marker) {
  const feature = marker.feature;
  const p = feature.properties;
  const box = document.createElement("div");
  box.className = "site-popup";
  const add = (tag, text, className) => {
    const node = document.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    box.append(node);
    return node;
  };
  add("strong", p.name);
  add("p", [p.code, p.township_name, p.village].filter(Boolean).join(" · "));
  add("p", [labels.tier[p.tier] || p.tier, labels.kind[p.kind] || p.kind].join(" · "));
  const state = add("p", "");
  const badge = document.createElement("span");
  badge.className = `badge ${{ due_soon: "due-soon" }[marker.state] || marker.state}`;
  badge.textContent =
    marker.state === "overdue"
      ? fill(labels.days_overdue, { days: p.days_overdue })
      : marker.state === "archived"
        ? labels.status[p.status] || p.status
        : labels.state[marker.state];
  state.append(badge);
  if (p.status === "active") {
    add("p", fill(labels.next_due, { date: formatDate(p.next_due_on) }));
  }
  add("p", p.last_inspected_at ? fill(labels.last_inspected, { date: formatDate(p.last_inspected_at) }) : labels.never_inspected);
  if (p.open_maintenance) add("p", fill(labels.open_maintenance, { n: p.open_maintenance }));
  const link = document.createElement("a");
  link.href = `/facilities/${encodeURIComponent(feature.id)}`;
  link.textContent = labels.open;
  const last = document.createElement("p");
  last.append(link);
  box.append(last);
  return box;
}

function draw(features, wanted) {
  const counts = { overdue: 0, due_soon: 0, ok: 0, archived: 0 };
  const byState = { overdue: [], due_soon: [], ok: [], archived: [] };
  for (const feature of features) {
    const state = stateOf(feature.properties);
    if (wanted && state !== wanted) continue;
    byState[state].push(feature);
    counts[state] += 1;
  }
  // Past a few thousand sites the white edge costs more than it shows: a canvas paints a
  // stroke as a second pass (50,000 sites redraw in about a third of the time without).
  const many = features.length > MANY;
  const group = L.featureGroup();
  for (const state of STATES) {
    const style = STYLE[state];
    for (const feature of byState[state]) {
      const [lon, lat] = feature.geometry.coordinates;
      const marker = L.circleMarker([lat, lon], {
        renderer,
        radius: many ? style.radius - 2 : style.radius,
        stroke: !many,
        fillColor: style.fillColor,
        fillOpacity: 0.95,
        color: "#ffffff",
        weight: 1.5,
      });
      marker.feature = feature;
      marker.state = state;
      group.addLayer(marker);
    }
  }
  group.on("click", (event) => {
    const marker = event.layer;
    L.popup({ maxWidth: 320, autoPanPadding: [20, 20] })
      .setLatLng(marker.getLatLng())
      .setContent(popupFor(marker))
      .openOn(map);
  });
  replaceLayer(group);
  const total = group.getLayers().length;
  report(total, counts);
  root.dataset.markerCount = String(total);
  return group;
}

function report(total, counts) {
  countLine.textContent = fill(labels.count, { total: sites(total), overdue: sites(counts.overdue) });
  for (const node of document.querySelectorAll(".legend-count")) {
    node.textContent = sites(counts[node.dataset.state]);
  }
  summaryLine.textContent = fill(labels.summary, {
    total: sites(total),
    overdue: sites(counts.overdue),
    due_soon: sites(counts.due_soon),
    ok: sites(counts.ok),
    archived: sites(counts.archived),
  });
  messageLine.textContent = total ? "" : labels.nothing;
}

// --- clusters: the view's sites counted on the server's grid --------------------------------

/** A cluster's circle: wider for more sites (26 px for 2, 50 px for 1,000). */
function clusterSize(count) {
  return Math.round(26 + 8 * Math.log10(count));
}

function clusterIcon(properties) {
  const label = document.createElement("span");
  label.textContent = properties.count.toLocaleString("en-US");
  const size = clusterSize(properties.count);
  return L.divIcon({
    html: label,
    className: `site-cluster ${properties.state}`,
    iconSize: [size, size],
  });
}

/** "12 here: overdue 3 sites, on schedule 9 sites. Click to zoom in." (the states it has,
 * most urgent first) */
function clusterText(properties) {
  const parts = [];
  for (const state of [...STATES].reverse()) {
    const n = properties.states[state];
    if (n) parts.push(`${labels.state[state]} ${sites(n)}`);
  }
  return fill(labels.cluster, {
    count: sites(properties.count),
    states: parts.join(chinese ? "，" : ", "),
  });
}

/** The popup of a cell of one site: what the clusters say of it, and its page. */
function lonePopup(properties) {
  const box = document.createElement("div");
  box.className = "site-popup";
  const name = document.createElement("strong");
  name.textContent = properties.name;
  const code = document.createElement("p");
  code.textContent = properties.code;
  const badge = document.createElement("span");
  badge.className = `badge ${{ due_soon: "due-soon" }[properties.state] || properties.state}`;
  badge.textContent = labels.state[properties.state];
  const state = document.createElement("p");
  state.append(badge);
  const link = document.createElement("a");
  link.href = `/facilities/${encodeURIComponent(properties.facility_id)}`;
  link.textContent = labels.open;
  const last = document.createElement("p");
  last.append(link);
  box.append(name, code, state, last);
  return box;
}

function drawClusters(collection) {
  const group = L.featureGroup();
  const grid = collection.grid;
  let clusterCount = 0;
  for (const feature of collection.features) {
    const p = feature.properties;
    const [lon, lat] = feature.geometry.coordinates;
    if (p.count === 1) {
      // a cell of one site: the site itself, as the feed would draw it (smaller)
      const style = STYLE[p.state];
      const marker = L.circleMarker([lat, lon], {
        renderer,
        radius: style.radius - 1,
        fillColor: style.fillColor,
        fillOpacity: 0.95,
        color: "#ffffff",
        weight: 1.5,
      });
      marker.bindPopup(() => lonePopup(p), { maxWidth: 320, autoPanPadding: [20, 20] });
      group.addLayer(marker);
      continue;
    }
    const text = clusterText(p);
    const marker = L.marker([lat, lon], { icon: clusterIcon(p), title: text, keyboard: true });
    marker.bindTooltip(text, { direction: "top", offset: [0, -clusterSize(p.count) / 2] });
    marker.on("click", () => {
      // into the cell: its bounds fill the view (about three zoom levels in)
      const [column, row] = p.cell;
      const size = grid.cell_degrees;
      const west = grid.origin[0] + column * size;
      const south = grid.origin[1] + row * size;
      const cell = L.latLngBounds([south, west], [south + size, west + size]);
      map.fitBounds(cell, { maxZoom: Math.min(map.getZoom() + 4, map.getMaxZoom()) });
    });
    group.addLayer(marker);
    clusterCount += 1;
  }
  replaceLayer(group);
  report(collection.total, collection.states);
  messageLine.textContent = collection.total ? labels.clustered : labels.nothing;
  root.dataset.markerCount = String(collection.total);
  root.dataset.clusterCount = String(clusterCount);
  return group;
}

function replaceLayer(group) {
  if (siteLayer) map.removeLayer(siteLayer);
  map.closePopup();
  siteLayer = group.addTo(map);
}

// --- filters: the feed's own query parameters, then the state client-side ---------------------

function feedQuery(filters) {
  const query = new URLSearchParams();
  if (filters.get("township_id")) query.set("township_id", filters.get("township_id"));
  if (filters.get("tier")) query.set("tier", filters.get("tier"));
  const state = filters.get("state");
  if (state === "overdue") query.set("overdue", "true");
  if (state === "due_soon" || state === "ok") {
    query.set("status", "active");
    query.set("overdue", "false");
  }
  return query;
}

/** The clusters take the state itself (they count exactly what the map would draw). */
function clusterQuery(filters) {
  const query = new URLSearchParams();
  for (const name of ["township_id", "tier", "state"]) {
    if (filters.get(name)) query.set(name, filters.get(name));
  }
  return query;
}

/** The view's box with a margin of a fifth on each side, within the world. */
function viewBox() {
  const bounds = map.getBounds().pad(0.2);
  const clamp = (value, limit) => Math.max(-limit, Math.min(limit, value));
  const round = (value) => Math.round(value * 1e6) / 1e6;
  return [
    round(clamp(bounds.getWest(), 180)),
    round(clamp(bounds.getSouth(), 90)),
    round(clamp(bounds.getEast(), 180)),
    round(clamp(bounds.getNorth(), 90)),
  ];
}

function boundsOf(box) {
  return L.latLngBounds([box[1], box[0]], [box[3], box[2]]);
}

async function getJSON(url, signal) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/geo+json" },
    signal,
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

const threshold = Number(data.clusterThreshold);
/** what is drawn: the mode, the filters and box it was loaded for, and the zoom */
let loaded = null;
let pending = null;
/** set while the page itself moves the map (a fit), so moveend does not load twice */
let fitting = false;

/** Whether what is drawn still serves the view: the same filters, a box holding the view,
 * and for clusters the same zoom (sites are exact at any zoom). */
function stillServes(key) {
  if (!loaded || loaded.key !== key) return false;
  if (!boundsOf(loaded.box).contains(map.getBounds())) return false;
  return loaded.mode === "sites" || loaded.zoom === Math.floor(map.getZoom());
}

async function load(fit) {
  const filters = new FormData(form);
  const key = new URLSearchParams(filters).toString();
  if (!fit && stillServes(key)) return;
  if (pending) pending.abort();
  const controller = new AbortController();
  pending = controller;
  root.dataset.status = "loading";
  root.setAttribute("aria-busy", "true");
  messageLine.textContent = labels.loading;
  const clusterBase = clusterQuery(filters);
  let mode;
  let answer;
  let box;
  let zoom;
  try {
    if (fit) {
      let bounds = countyBounds;
      let options = { padding: [12, 12], animate: false };
      if (filters.get("township_id")) {
        // the township's sites: the clusters without a box say where they lie
        const query = new URLSearchParams(clusterBase);
        query.set("zoom", "0");
        const whole = await getJSON(`${data.clusters}?${query}`, controller.signal);
        if (whole.total) {
          bounds = boundsOf(whole.bbox);
          options = { padding: [30, 30], maxZoom: 13, animate: false };
        }
      }
      fitting = true;
      map.fitBounds(bounds, options);
      fitting = false;
    }
    box = viewBox();
    zoom = Math.floor(map.getZoom());
    const query = new URLSearchParams(clusterBase);
    query.set("bbox", box.join(","));
    query.set("zoom", String(zoom));
    const counted = await getJSON(`${data.clusters}?${query}`, controller.signal);
    if (counted.total > threshold) {
      mode = "clusters";
      answer = counted;
    } else {
      mode = "sites";
      const sitesQuery = feedQuery(filters);
      sitesQuery.set("bbox", box.join(","));
      answer = await getJSON(`${data.feed}?${sitesQuery}`, controller.signal);
    }
  } catch (error) {
    if (error.name === "AbortError") return; // a newer view or filter took over
    if (pending !== controller) return;
    pending = null;
    root.dataset.status = "failed";
    root.removeAttribute("aria-busy");
    messageLine.textContent = labels.failed;
    return;
  }
  if (pending !== controller) return;
  pending = null;
  if (mode === "clusters") {
    drawClusters(answer);
  } else {
    draw(answer.features, filters.get("state") || "");
  }
  loaded = { mode, key, box, zoom };
  root.dataset.mode = mode;
  root.removeAttribute("aria-busy");
  root.dataset.status = "ready";
}

function changed() {
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) query.set(key, value);
  const search = query.toString();
  const here = `/map${search ? `?${search}` : ""}`;
  history.replaceState(null, "", here);
  for (const link of document.querySelectorAll(".lang-switch a")) {
    const url = new URL(link.href);
    url.searchParams.set("next", here); // switching language keeps the filters
    link.href = url.pathname + url.search;
  }
  load(true);
}

form.addEventListener("change", changed);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  changed();
});

let moved = null;
map.on("moveend", () => {
  if (fitting) return;
  clearTimeout(moved);
  moved = setTimeout(() => load(false), 150); // once the user stops panning
});

load(Boolean(new FormData(form).get("township_id")));
