// A facility's page: the small map with the facility as one circle marker. Tiles only when
// the county has a tile server (MEMORIAL_TILE_URL); otherwise a plain background and a scale.
const element = document.getElementById("facility-map");
const L = window.L;

//: the state colours of the map (UI.md): overdue red, due soon amber, else green, inactive grey
const COLOURS = { overdue: "#b42318", "due-soon": "#c77700", ok: "#1e6b3a", inactive: "#58606b" };

if (element && L) {
  const { latitude, longitude, name, state, tileUrl, attribution } = element.dataset;
  const point = [Number(latitude), Number(longitude)];
  const map = L.map(element, {
    center: point,
    zoom: 14,
    scrollWheelZoom: false,
    attributionControl: Boolean(tileUrl),
  });
  if (tileUrl) {
    const subdomains = tileUrl.includes("tianditu") ? "01234567" : "abc";
    const credit = document.createElement("span");
    credit.textContent = attribution || ""; // shown as text, never as markup
    L.tileLayer(tileUrl, { attribution: credit.innerHTML, subdomains, maxZoom: 18 }).addTo(map);
    map.attributionControl.setPrefix(false);
  }
  L.circleMarker(point, {
    radius: 9,
    color: "#ffffff",
    weight: 2,
    fillColor: COLOURS[state] || COLOURS.ok,
    fillOpacity: 1,
  })
    .bindTooltip(Object.assign(document.createElement("span"), { textContent: name }))
    .addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
}
