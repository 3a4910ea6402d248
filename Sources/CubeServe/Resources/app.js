// The cube viewer: a Leaflet map of /tiles, a time slider, band and stretch controls, a
// pixel's time series on click, and the build's progress. No network but this server.
(async function () {
  const info = await (await fetch('/api/info')).json();
  document.getElementById('name').textContent = info.name;
  document.title = info.name + ' · cube';

  const time = document.getElementById('time');
  const binLabel = document.getElementById('bin-label');
  time.max = info.bins.length - 1;
  time.value = info.bins.length - 1;

  const bands = document.getElementById('bands');
  const combos = [info.default_bands.join(',')];
  for (const a of info.arrays) if (!combos.includes(a)) combos.push(a);
  if (!combos.includes('count')) combos.push('count');
  for (const c of combos) bands.add(new Option(c, c));
  const min = document.getElementById('min'), max = document.getElementById('max');
  min.value = info.stretch[0]; max.value = info.stretch[1];

  const map = L.map('map', { zoomSnap: 1 });
  const [w, s, e, n] = info.bounds;
  map.fitBounds([[s, w], [n, e]]);

  function tileURL() {
    const bin = info.bins[time.value];
    const isCount = bands.value === 'count';
    const lo = isCount ? 0 : min.value, hi = isCount ? 20 : max.value;
    return `/tiles/${bin}/{z}/{x}/{y}.png?bands=${bands.value}&min=${lo}&max=${hi}`;
  }
  const layer = L.tileLayer(tileURL(), { tileSize: 256, maxZoom: 22, maxNativeZoom: 22,
                                        attribution: info.name + ' (cube)' }).addTo(map);
  L.rectangle([[s, w], [n, e]], { color: '#e8b04b', weight: 1, fill: false }).addTo(map);

  function refresh() {
    binLabel.textContent = info.bins[time.value];
    layer.setUrl(tileURL());
  }
  for (const el of [time, bands, min, max]) el.addEventListener('input', refresh);
  refresh();

  let marker = null;
  map.on('click', async (ev) => {
    const { lat, lng } = ev.latlng;
    const r = await (await fetch(`/api/point?lon=${lng}&lat=${lat}`)).json();
    if (marker) marker.remove();
    marker = L.circleMarker(ev.latlng, { radius: 5, color: '#d33' }).addTo(map);
    const box = document.getElementById('series');
    if (!r.inside) { box.innerHTML = '<p class="muted">Outside the cube.</p>'; return; }
    const names = Object.keys(r.series).sort();
    const shown = info.default_bands.filter((b) => names.includes(b));
    // A small chart of reflectance (value * scale_factor) per bin, 0 = no data left out.
    const width = 280, height = 120, pad = 6;
    const colors = ['#c33', '#3a3', '#33c', '#999'];
    let all = [];
    for (const b of shown) all = all.concat(r.series[b].filter((v) => v > 0));
    const top = Math.max(1, ...all);
    let svg = `<svg viewBox="0 0 ${width} ${height}" data-testid="chart">`;
    shown.forEach((b, k) => {
      const pts = r.series[b].map((v, i) => v > 0 ? [pad + i * (width - 2 * pad) / Math.max(1, r.bins.length - 1),
                                                       height - pad - v / top * (height - 2 * pad)] : null).filter(Boolean);
      svg += `<polyline fill="none" stroke="${colors[k % 4]}" stroke-width="2" points="${pts.map((p) => p.join(',')).join(' ')}"/>`;
    });
    svg += '</svg>';
    let table = '<table id="series-table"><tr><th>bin</th>' + names.map((n) => `<th>${n}</th>`).join('') + '</tr>';
    r.bins.forEach((bin, i) => {
      table += `<tr data-bin="${bin}"><td>${bin}</td>` + names.map((n) => `<td data-array="${n}">${r.series[n][i]}</td>`).join('') + '</tr>';
    });
    table += '</table>';
    box.innerHTML = `<p>pixel row ${r.row}, col ${r.col} (${r.lat.toFixed(5)}, ${r.lon.toFixed(5)}); stored values, reflectance = value × ${r.scale_factor}</p>` + svg + table;
  });

  async function progress() {
    try {
      const p = await (await fetch('/api/progress')).json();
      document.getElementById('progress').textContent =
        `${p.done}/${p.total} jobs done` + (p.complete ? ' · complete' : p.running ? ' · building…' : '');
      if (p.running) layer.redraw();
    } catch (e) { /* the server went away */ }
  }
  progress();
  setInterval(progress, 3000);
})();
