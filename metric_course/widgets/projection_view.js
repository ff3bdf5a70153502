// The clickable projection of notebook 06 (metric_course/widgets/projection_view.py).
//
// ProjectionView.html() puts this file, unchanged, inside one self-contained <div> beside
// its data (a <script type="application/json"> with ProjectionView.payload(): points scaled
// into [0, 1000], labels, names, colours, every item's neighbours and distances, and the
// images as one sprite sheet), then calls drawProjectionView on that <div>. Nothing runs in
// the kernel: the neighbours were computed in Python beforehand.
//
// Click (or tap) a point to make it the query; hover to see a point's image and label; drag
// a box over an empty area to list what it holds. Points are found by screen distance (the
// nearest within 12 px), so a small dot is easy to hit with a mouse or a finger; a drag of
// more than 5 px draws a box.
function drawProjectionView(root) {
  const data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  const S = data.size, PAD = 12, NS = 'http://www.w3.org/2000/svg';
  const [TH, TW] = data.tile;
  const n = data.labels.length;
  const colour = i => data.colours[data.groups[i] % data.colours.length];
  const X = p => PAD + p[0] / 1000 * (S - 2 * PAD);
  const Y = p => S - PAD - p[1] / 1000 * (S - 2 * PAD);
  const el = (tag, attrs, parent) => {
    const e = document.createElementNS(NS, tag);
    for (const [a, v] of Object.entries(attrs)) e.setAttribute(a, v);
    if (parent) parent.appendChild(e);
    return e;
  };
  const html = (tag, style, text) => {
    const e = document.createElement(tag);
    if (style) e.style.cssText = style;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const sprite = (i, scale) => {
    const e = html('div', `width:${TW * scale}px;height:${TH * scale}px;flex:none;` +
      `background-image:url(${data.sprite});image-rendering:pixelated;` +
      `background-size:${data.columns * TW * scale}px auto;` +
      `background-position:${-(i % data.columns) * TW * scale}px ` +
      `${-Math.floor(i / data.columns) * TH * scale}px;`);
    e.className = 'mc-image';
    e.dataset.index = i;
    return e;
  };
  root.style.cssText = 'font:12px sans-serif;display:flex;gap:14px;align-items:flex-start;' +
    'flex-wrap:wrap;position:relative;color:#222;background:#fff;padding:4px';
  const left = html('div', 'flex:none');
  left.appendChild(html('div', 'font-weight:bold;margin-bottom:2px', data.title));
  left.appendChild(html('div', 'color:#666;margin-bottom:4px',
    'click a point: its neighbours · hover: its image · drag a box: what it holds'));
  const shown = [...new Set(data.groups)].sort((a, b) => a - b);
  if (shown.length <= 12) {
    const legend = html('div', 'display:flex;flex-wrap:wrap;gap:8px;margin-bottom:4px');
    for (const g of shown) {
      legend.appendChild(html('span', `color:${data.colours[g % data.colours.length]}`,
        `● ${data.group_names[g]}`));
    }
    left.appendChild(legend);
  }
  const svg = el('svg', {width: S, height: S, class: 'mc-projection'});
  svg.style.cssText = 'border:1px solid #ccc;touch-action:none;cursor:crosshair;user-select:none';
  left.appendChild(svg);
  root.appendChild(left);
  const dots = el('g', {}, svg);
  for (let i = 0; i < n; i++) {
    el('circle', {cx: X(data.points[i]), cy: Y(data.points[i]), r: 3, fill: colour(i),
      'fill-opacity': 0.55, 'data-index': i, class: 'mc-point'}, dots);
  }
  const marks = el('g', {'pointer-events': 'none'}, svg);
  const box = el('rect', {fill: 'rgba(0,0,0,0.06)', stroke: '#555', 'stroke-dasharray': '4 3',
    visibility: 'hidden', 'pointer-events': 'none'}, svg);
  const right = html('div', 'flex:1;min-width:300px;max-width:520px');
  const queryPanel = html('div');
  queryPanel.className = 'mc-query';
  const selectionPanel = html('div', 'margin-top:10px');
  selectionPanel.className = 'mc-selection';
  right.appendChild(queryPanel);
  right.appendChild(selectionPanel);
  root.appendChild(right);
  const tip = html('div', 'position:absolute;display:none;pointer-events:none;background:#fff;' +
    'border:1px solid #999;padding:3px;box-shadow:0 1px 4px rgba(0,0,0,.3);z-index:10');
  tip.className = 'mc-hover';
  root.appendChild(tip);

  function showQuery(q) {
    data.query = q;
    root.dataset.query = q;
    marks.replaceChildren();
    const hits = data.neighbours[q];
    for (const j of hits) {
      el('circle', {cx: X(data.points[j]), cy: Y(data.points[j]), r: 6, fill: 'none',
        stroke: '#000', 'stroke-width': 1.5}, marks);
    }
    el('circle', {cx: X(data.points[q]), cy: Y(data.points[q]), r: 8, fill: colour(q),
      stroke: '#000', 'stroke-width': 2, class: 'mc-query-mark'}, marks);
    const same = hits.filter(j => data.labels[j] === data.labels[q]).length;
    queryPanel.replaceChildren();
    const head = html('div', 'display:flex;gap:8px;align-items:center');
    head.appendChild(sprite(q, 3));
    const caption = html('div', `color:${colour(q)}`);
    caption.className = 'mc-query-caption';
    caption.textContent = `query #${q}: ${data.names[data.labels[q]]}`;
    caption.appendChild(html('div', 'color:#222',
      `${same} of ${hits.length} nearest share its class`));
    head.appendChild(caption);
    queryPanel.appendChild(head);
    const grid = html('div', 'display:flex;flex-wrap:wrap;gap:6px;margin-top:6px');
    grid.className = 'mc-neighbours';
    hits.forEach((j, r) => {
      const cell = html('div', `width:64px;color:${colour(j)};font-size:10px;cursor:pointer;` +
        'overflow:hidden;white-space:nowrap;text-overflow:ellipsis');
      cell.className = 'mc-neighbour';
      cell.dataset.index = j;
      cell.title = `#${j} ${data.names[data.labels[j]]} (click: make it the query)`;
      cell.appendChild(sprite(j, 2));
      const mark = data.labels[j] === data.labels[q] ? '✓' : '✗';
      cell.appendChild(html('div', '', `${mark} #${j}`));
      cell.appendChild(html('div', 'overflow:hidden;text-overflow:ellipsis',
        data.names[data.labels[j]]));
      cell.appendChild(html('div', 'color:#444', `d = ${data.distances[q][r].toFixed(3)}`));
      cell.addEventListener('click', () => showQuery(j));
      grid.appendChild(cell);
    });
    queryPanel.appendChild(grid);
  }

  function showSelection(inside) {
    selectionPanel.replaceChildren();
    const counts = new Map();
    for (const i of inside) counts.set(data.labels[i], (counts.get(data.labels[i]) || 0) + 1);
    const mix = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    selectionPanel.appendChild(html('div', 'font-weight:bold',
      `box: ${inside.length} items of ${mix.length} classes`));
    const list = html('div', 'margin:2px 0 4px');
    list.className = 'mc-class-mix';
    const shown = mix.slice(0, 12).map(([c, k]) => `${data.names[c]} ×${k}`);
    if (mix.length > 12) shown.push(`and ${mix.length - 12} more classes`);
    list.textContent = shown.join(', ');
    selectionPanel.appendChild(list);
    const grid = html('div', 'display:flex;flex-wrap:wrap;gap:2px');
    for (const i of inside.slice(0, 60)) {
      const image = sprite(i, 1);
      image.title = `#${i} ${data.names[data.labels[i]]}`;
      image.style.outline = `2px solid ${colour(i)}`;
      grid.appendChild(image);
    }
    selectionPanel.appendChild(grid);
    if (inside.length > 60) selectionPanel.appendChild(html('div', 'color:#666',
      `(first 60 of ${inside.length} shown)`));
  }

  const local = event => {
    const r = svg.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  };
  function nearest([x, y]) {
    let best = -1, bestD = 144;  // within 12 px
    for (let i = 0; i < n; i++) {
      const dx = X(data.points[i]) - x, dy = Y(data.points[i]) - y, d = dx * dx + dy * dy;
      if (d < bestD) { best = i; bestD = d; }
    }
    return best;
  }
  let start = null;
  svg.addEventListener('pointerdown', event => {
    start = local(event);
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener('pointermove', event => {
    const p = local(event);
    if (start && Math.hypot(p[0] - start[0], p[1] - start[1]) > 5) {
      tip.style.display = 'none';
      box.setAttribute('x', Math.min(p[0], start[0]));
      box.setAttribute('y', Math.min(p[1], start[1]));
      box.setAttribute('width', Math.abs(p[0] - start[0]));
      box.setAttribute('height', Math.abs(p[1] - start[1]));
      box.setAttribute('visibility', 'visible');
      return;
    }
    const i = nearest(p);
    if (i < 0) { tip.style.display = 'none'; return; }
    tip.replaceChildren(sprite(i, 3),
      html('div', `color:${colour(i)};font-size:11px`, `#${i} ${data.names[data.labels[i]]}`));
    const r = root.getBoundingClientRect(), s = svg.getBoundingClientRect();
    tip.style.left = `${s.left - r.left + p[0] + 14}px`;
    tip.style.top = `${s.top - r.top + p[1] + 14}px`;
    tip.style.display = 'block';
  });
  svg.addEventListener('pointerleave', () => { tip.style.display = 'none'; });
  svg.addEventListener('pointerup', event => {
    if (!start) return;
    const p = local(event), from = start;
    start = null;
    if (Math.hypot(p[0] - from[0], p[1] - from[1]) > 5) {
      box.setAttribute('visibility', 'hidden');
      const [x0, x1] = [Math.min(p[0], from[0]), Math.max(p[0], from[0])];
      const [y0, y1] = [Math.min(p[1], from[1]), Math.max(p[1], from[1])];
      const inside = [];
      for (let i = 0; i < n; i++) {
        const x = X(data.points[i]), y = Y(data.points[i]);
        if (x >= x0 && x <= x1 && y >= y0 && y <= y1) inside.push(i);
      }
      showSelection(inside);
    } else {
      const i = nearest(p);
      if (i >= 0) showQuery(i);
    }
  });
  showQuery(data.query);
}
