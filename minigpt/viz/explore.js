// The explore page (minigpt.viz.explore_page): what a trained Mini-GPT does with a prompt.
//
// All numbers come from Python (the JSON in #ex-data, see minigpt/explore.py); the page
// only lays them out, except section 4, which recomputes generate's distribution for
// the chosen temperature and top-k, and draws with Python's Mersenne Twister.
// State: the chosen position, layer/head, attention cell, trace step and target.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("ex-data").textContent);
  const T = D.tokens.length, M = D.model, L = M.n_layers, H = M.n_heads, HD = M.head_dim;
  const SVGNS = "http://www.w3.org/2000/svg";
  const state = {pos: D.position, layer: 0, head: 0, key: D.position, mode: "weights", stage: 0, all: true,
                 target: null};

  function el(tag, attrs, text) {
    const e = tag.indexOf("svg:") === 0 ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function $(id) { return document.getElementById(id); }
  function fmt(x) {
    if (x === null || x === undefined) return "";
    if (x === 0) return "0";
    const a = Math.abs(x);
    return (a >= 1e4 || a < 1e-3) ? x.toExponential(2) : x.toFixed(a >= 100 ? 1 : a >= 10 ? 2 : 3);
  }
  function pct(p) { return (100 * p).toFixed(p >= 0.1 ? 1 : 2) + "%"; }
  // a token as shown: spaces and line ends made visible (a character model has them)
  function vis(s) { return s.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5") || "\u2205"; }
  D.tokens = D.tokens.map(vis);
  D.vocab = D.vocab.map(vis);
  function tokName(i) { return D.vocab[i]; }
  // colour scales: sequential blue for weights and sizes, diverging blue/red for signed numbers
  function blue(x) {  // x in 0..1
    const t = Math.max(0, Math.min(1, x));
    return "rgb(" + Math.round(255 - 230 * t) + "," + Math.round(255 - 142 * t) + "," + Math.round(255 - 61 * t) + ")";
  }
  function diverging(x, scale) {  // negative blue, positive red
    const t = scale > 0 ? Math.max(-1, Math.min(1, x / scale)) : 0;
    if (t >= 0) return "rgb(255," + Math.round(255 - 170 * t) + "," + Math.round(255 - 190 * t) + ")";
    return "rgb(" + Math.round(255 + 200 * t) + "," + Math.round(255 + 120 * t) + ",255)";
  }
  function textOn(x) { return x > 0.6 ? "white" : "#222"; }
  function maxAbs(rows) {
    let m = 0;
    rows.forEach(function (r) { (Array.isArray(r) ? r : [r]).forEach(function (v) { m = Math.max(m, Math.abs(v)); }); });
    return m;
  }

  // ---------------------------------------------------------------- what was left out
  if (D.omitted.length) {
    const o = $("ex-omitted");
    o.hidden = false;
    o.textContent = "Left out to keep the page small: " + D.omitted.join("; ") + ".";
  }

  // ---------------------------------------------------------------- 1. tokens and predictions
  const tokButtons = [];
  D.tokens.forEach(function (tok, t) {
    const b = el("button", {"class": "ex-tok", "aria-label": "position " + t + ": " + tok});
    const w = el("div", {"class": "ex-word"});
    w.appendChild(el("span", {"class": "ex-pos"}, String(t)));
    w.appendChild(document.createTextNode(tok));
    b.appendChild(w);
    D.predictions[t].forEach(function (pair) {
      const row = el("div", {"class": "ex-pred" + (t + 1 < T && pair[0] === D.ids[t + 1] ? " ex-next" : "")});
      const bar = el("div", {"class": "ex-bar"});
      bar.style.width = (100 * pair[1]) + "%";
      row.appendChild(bar);
      row.appendChild(el("span", null, tokName(pair[0])));
      row.appendChild(el("span", null, pair[1].toFixed(2)));
      b.appendChild(row);
    });
    b.addEventListener("click", function () { choosePosition(t); });
    $("ex-token-row").appendChild(b);
    tokButtons.push(b);
  });

  // ---------------------------------------------------------------- 2. attention
  const headButtons = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const b = el("button", {"class": "ex-head", "title": "layer " + l + ", head " + h + " (H: next head)"});
      b.appendChild(el("span", null, "layer " + l + " head " + h));
      const c = el("canvas", {"width": T, "height": T});
      const ctx = c.getContext("2d");
      const w = D.attention[l][h].weights;
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < T; j++) {
          ctx.fillStyle = j > t ? "#ced4da" : blue(w[t][j]);
          ctx.fillRect(j, t, 1, 1);
        }
      }
      b.appendChild(c);
      b.addEventListener("click", function () { state.layer = l; state.head = h; state.key = strongestKey(); drawAttention(); });
      b.dataset.layer = l; b.dataset.head = h;
      $("ex-heads").appendChild(b);
      headButtons.push(b);
    }
  }
  document.querySelectorAll("input[name=ex-mode]").forEach(function (r) {
    r.addEventListener("change", function () { state.mode = r.value; drawAttention(); });
  });

  function currentSaliency() {
    return D.saliency[state.pos + ":" + state.target] || null;
  }

  function drawAttention() {
    headButtons.forEach(function (b) {
      b.classList.toggle("ex-on", +b.dataset.layer === state.layer && +b.dataset.head === state.head);
    });
    const A = D.attention[state.layer][state.head];
    const sal = currentSaliency();
    const grad = state.mode === "grad" && sal ? sal.attention[state.layer][state.head] : null;
    const values = state.mode === "scores" ? A.scores : grad || A.weights;
    const scale = state.mode === "weights" ? 1 : maxAbs(values);
    const label = Math.max.apply(null, D.tokens.map(function (s) { return s.length; }));
    const left = Math.min(140, 14 + 8 * label), top = Math.min(140, 14 + 8 * label);
    const cell = Math.max(12, Math.min(36, Math.floor(480 / T)));
    const size = cell * T;
    const svg = el("svg:svg", {"width": left + size + 4, "height": top + size + 4, "role": "img",
                               "aria-label": "attention weights, layer " + state.layer + " head " + state.head});
    for (let t = 0; t < T; t++) {
      const ry = el("svg:text", {"x": left - 6, "y": top + t * cell + cell / 2 + 4, "text-anchor": "end",
                                 "font-size": 12, "fill": t === state.pos ? "#d9480f" : "#333"}, D.tokens[t]);
      svg.appendChild(ry);
      const cx = left + t * cell + cell / 2 + 4;
      svg.appendChild(el("svg:text", {"x": cx, "y": top - 6, "font-size": 12, "fill": t === state.key ? "#d9480f" : "#333",
                                      "transform": "rotate(-60 " + cx + " " + (top - 6) + ")"}, D.tokens[t]));
    }
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < T; j++) {
        const x = left + j * cell, y = top + t * cell;
        const masked = j > t;
        let fill;
        if (masked) fill = "url(#ex-hatch)";
        else if (state.mode === "weights") fill = blue(values[t][j]);
        else fill = diverging(values[t][j], scale);
        const r = el("svg:rect", {"x": x, "y": y, "width": cell - 1, "height": cell - 1, "fill": fill,
                                  "class": "ex-c", "data-t": t, "data-j": j});
        r.addEventListener("click", function () { if (!masked) { state.pos = t; state.key = j; update(); } else { showMasked(t, j); } });
        if (!masked && T <= 48) {
          r.appendChild(el("svg:title", null, D.tokens[t] + " \u2192 " + D.tokens[j] + ": score " + fmt(A.scores[t][j]) +
                           ", weight " + fmt(A.weights[t][j]) + (grad ? ", \u2202loss/\u2202w " + fmt(grad[t][j]) : "")));
        }
        svg.appendChild(r);
        if (!masked && cell >= 30) {
          const v = values[t][j];
          svg.appendChild(el("svg:text", {"x": x + cell / 2, "y": y + cell / 2 + 4, "text-anchor": "middle", "font-size": 10,
                                          "pointer-events": "none",
                                          "fill": state.mode === "weights" ? textOn(v) : "#222"},
                             state.mode === "weights" ? v.toFixed(2).replace(/^0/, "") : fmt(v)));
        }
      }
    }
    const defs = el("svg:defs");
    const pat = el("svg:pattern", {"id": "ex-hatch", "width": 6, "height": 6, "patternUnits": "userSpaceOnUse",
                                   "patternTransform": "rotate(45)"});
    pat.appendChild(el("svg:rect", {"width": 6, "height": 6, "fill": "#e9ecef"}));
    pat.appendChild(el("svg:line", {"x1": 0, "y1": 0, "x2": 0, "y2": 6, "stroke": "#ced4da", "stroke-width": 2}));
    defs.appendChild(pat);
    svg.insertBefore(defs, svg.firstChild);
    // the chosen query row and cell
    svg.appendChild(el("svg:rect", {"x": left - 1, "y": top + state.pos * cell - 1, "width": (state.pos + 1) * cell + 1,
                                    "height": cell + 1, "fill": "none", "stroke": "#d9480f", "stroke-width": 2}));
    svg.appendChild(el("svg:rect", {"x": left + state.key * cell - 1, "y": top + state.pos * cell - 1, "width": cell + 1,
                                    "height": cell + 1, "fill": "none", "stroke": "#222", "stroke-width": 2.5,
                                    "id": "ex-cell-mark"}));
    const legend = {weights: "white 0 \u2192 blue 1: the weight position t gives to position j.",
                    scores: "q\u00b7k/\u221a" + HD + " before the softmax: blue negative, red positive (full colour: \u00b1" + fmt(scale) + ").",
                    grad: sal ? "\u2202loss/\u2202weight for target '" + tokName(sal.target) + "' at position " + sal.position +
                                ": blue, more weight there would make it more likely; red, less likely (full colour: \u00b1" + fmt(scale) + ")."
                              : "no gradients stored for this position (see the note at the top)."};
    $("ex-legend").textContent = legend[state.mode];
    const box = $("ex-heatmap");
    box.innerHTML = "";
    box.appendChild(svg);
    drawLines(A);
    drawCell(A, grad);
  }

  function showMasked(t, j) {
    $("ex-cell").textContent = "Position " + t + " cannot see position " + j + ": the causal mask sets its score to " +
      "minus infinity before the softmax, so its weight is 0 (the model computes only the row's first " + (t + 1) + " scores).";
  }

  function drawLines(A) {  // where the chosen query looks: a line to each key, as thick as its weight
    $("ex-q-name").textContent = state.pos + " (" + D.tokens[state.pos] + "), layer " + state.layer + " head " + state.head;
    const svg = $("ex-lines");
    svg.innerHTML = "";
    const gap = Math.max(16, Math.min(90, Math.floor(620 / T)));  // fits beside the heatmap
    const font = gap >= 44 ? 12 : gap >= 30 ? 10 : 8;
    const width = gap * T + 20;
    svg.setAttribute("width", width);
    svg.setAttribute("height", 156);
    const w = A.weights[state.pos];
    for (let j = 0; j < T; j++) {
      const x = 10 + j * gap + gap / 2;
      svg.appendChild(el("svg:text", {"x": x, "y": 20, "text-anchor": "middle", "font-size": font,
                                      "fill": j === state.pos ? "#d9480f" : "#333"}, D.tokens[j]));
      svg.appendChild(el("svg:text", {"x": x, "y": 130, "text-anchor": "middle", "font-size": font,
                                      "fill": j > state.pos ? "#bbb" : "#333"}, D.tokens[j]));
      if (j <= state.pos) {
        const qx = 10 + state.pos * gap + gap / 2;
        svg.appendChild(el("svg:line", {"x1": qx, "y1": 26, "x2": x, "y2": 114, "stroke": "#1971c2",
                                        "stroke-width": Math.max(0.5, 14 * w[j]), "stroke-opacity": 0.25 + 0.75 * w[j],
                                        "stroke-linecap": "round"}));
        if (gap >= 30) {
          svg.appendChild(el("svg:text", {"x": x, "y": 150, "text-anchor": "middle", "font-size": font - 1, "fill": "#1971c2"},
                             w[j].toFixed(2)));
        }
      }
    }
  }

  function drawCell(A, grad) {
    const t = state.pos, j = Math.min(state.key, t);
    const box = $("ex-cell");
    box.innerHTML = "";
    box.appendChild(el("p", null, "Query " + t + " (" + D.tokens[t] + "), key " + j + " (" + D.tokens[j] + "): score q\u00b7k/\u221a" +
                       HD + " = " + fmt(A.scores[t][j]) + ", weight = softmax(row)[" + j + "] = " + fmt(A.weights[t][j]) +
                       (grad ? ", \u2202loss/\u2202weight = " + fmt(grad[t][j]) : "")));
    const table = el("table");
    const head = el("tr");
    head.appendChild(el("th", null, "key"));
    const rs = el("tr"), rw = el("tr"), rg = el("tr");
    rs.appendChild(el("th", null, "score"));
    rw.appendChild(el("th", null, "weight"));
    rg.appendChild(el("th", null, "\u2202loss/\u2202w"));
    for (let k = 0; k <= t; k++) {
      const hl = k === j ? {"class": "ex-hl"} : null;
      head.appendChild(el("th", hl, D.tokens[k]));
      rs.appendChild(el("td", hl, fmt(A.scores[t][k])));
      rw.appendChild(el("td", hl, fmt(A.weights[t][k])));
      if (grad) rg.appendChild(el("td", hl, fmt(grad[t][k])));
    }
    table.appendChild(head); table.appendChild(rs); table.appendChild(rw);
    if (grad) table.appendChild(rg);
    box.appendChild(el("p", {"class": "ex-small"}, "Row " + t + " of the scores and its softmax (the weights sum to 1):"));
    box.appendChild(table);
  }

  $("ex-heatmap").addEventListener("keydown", function (e) {
    const moves = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};
    const m = moves[e.key];
    if (!m) return;
    e.preventDefault();
    e.stopPropagation();
    state.pos = Math.max(0, Math.min(T - 1, state.pos + m[0]));
    state.key = Math.max(0, Math.min(state.pos, state.key + m[1]));
    update();
    $("ex-heatmap").focus();
  });

  // ---------------------------------------------------------------- 3. one position through the model
  function stagesFor(t) {
    const tr = D.trace[String(t)];
    if (!tr) return null;
    const S = [];
    const tied = M.tie_weights;
    S.push({what: "token embedding of '" + D.tokens[t] + "'", formula: "E[" + D.ids[t] + "]", vec: tr.token});
    if (tr.position) {
      S.push({what: "position embedding", formula: "P[" + t + "]", vec: tr.position});
      S.push({what: "input vector", formula: "x = E[id] + P[t]", vec: tr.x0});
    }
    tr.layers.forEach(function (r, l) {
      const b = "blocks." + l + ".";
      S.push({what: "layer " + l + ": LayerNorm", formula: "ln1(x) = \u03b3 (x \u2212 mean) / \u221a(var + 1e-5) + \u03b2", vec: r.ln1, layer: l});
      if (M.pos_encoding === "rope") {
        S.push({what: "query, before RoPE", formula: b + "attn.q_proj \u00b7 ln1(x)", vec: r.q_raw, layer: l, heads: true});
        S.push({what: "query, rotated by RoPE", formula: "each pair (2i, 2i+1) turned by angle " + t + " \u00b7 10000^(\u22122i/" + HD + ")", vec: r.q, layer: l, heads: true});
        S.push({what: "key, before RoPE", formula: b + "attn.k_proj \u00b7 ln1(x)", vec: r.k_raw, layer: l, heads: true});
        S.push({what: "key, rotated by RoPE", formula: "the same rotation", vec: r.k, layer: l, heads: true});
      } else {
        S.push({what: "query", formula: b + "attn.q_proj \u00b7 ln1(x)", vec: r.q, layer: l, heads: true});
        S.push({what: "key", formula: b + "attn.k_proj \u00b7 ln1(x)", vec: r.k, layer: l, heads: true});
      }
      S.push({what: "value", formula: b + "attn.v_proj \u00b7 ln1(x)", vec: r.v, layer: l, heads: true});
      for (let h = 0; h < H; h++) {
        const A = D.attention[l][h];
        S.push({what: "head " + h + ": scores against positions 0.." + t, formula: "q_t \u00b7 k_j / \u221a" + HD + " (head features " +
                h * HD + ".." + ((h + 1) * HD - 1) + ")", vec: A.scores[t], labels: D.tokens.slice(0, t + 1), layer: l});
        S.push({what: "head " + h + ": weights", formula: "softmax(scores)", vec: A.weights[t], labels: D.tokens.slice(0, t + 1),
                layer: l, weights: true});
        S.push({what: "head " + h + ": weighted sum of the values", formula: "\u03a3_j weight_j v_j", vec: r.heads_out.slice(h * HD, (h + 1) * HD), layer: l});
      }
      S.push({what: "attention output", formula: b + "attn.out_proj \u00b7 [head 0, ..., head " + (H - 1) + "]", vec: r.attn_out, layer: l});
      S.push({what: "residual", formula: "x + attention output", vec: r.resid1, layer: l});
      S.push({what: "LayerNorm", formula: "ln2(x)", vec: r.ln2, layer: l});
      S.push({what: "feed-forward hidden layer", formula: b + "ffn.fc1 \u00b7 ln2(x) + b1  (" + M.d_ff + " features)", vec: r.hidden, layer: l});
      S.push({what: "GELU", formula: "0.5 u (1 + tanh(\u221a(2/\u03c0) (u + 0.044715 u\u00b3)))", vec: r.act, layer: l});
      S.push({what: "feed-forward output", formula: b + "ffn.fc2 \u00b7 gelu + b2", vec: r.ffn_out, layer: l});
      S.push({what: "residual: layer " + l + "'s output", formula: "x + feed-forward output", vec: r.resid2, layer: l});
    });
    S.push({what: "final LayerNorm", formula: "ln_f(x)", vec: tr.ln_f});
    S.push({what: "logits", formula: tied ? "E \u00b7 ln_f(x)  (the head is the token table)" : "lm_head \u00b7 ln_f(x)", vec: tr.logits, labels: D.vocab, top: true});
    S.push({what: "probabilities of the next token", formula: "softmax(logits)", vec: tr.probs, labels: D.vocab, top: true, weights: true});
    return S;
  }

  const LONG = 64;  // a longer vector is summed up, its first values shown, the rest on request
  const expanded = {};
  function vecView(s, key) {
    const box = el("div", {"class": "ex-vec"});
    let idx = s.vec.map(function (_, i) { return i; });
    if (s.top) idx = idx.sort(function (a, b) { return s.vec[b] - s.vec[a] || a - b; }).slice(0, 16);
    const scale = maxAbs(s.vec);
    if (!s.top && s.vec.length > LONG && !expanded[key]) {
      const n = s.vec.length;
      let sum = 0, sq = 0, lo = Infinity, hi = -Infinity;
      s.vec.forEach(function (v) { sum += v; sq += v * v; lo = Math.min(lo, v); hi = Math.max(hi, v); });
      const mean = sum / n;
      const summary = el("div", {"class": "ex-small"}, n + " values: mean " + fmt(mean) + ", std " +
                         fmt(Math.sqrt(Math.max(0, sq / n - mean * mean))) + ", min " + fmt(lo) + ", max " + fmt(hi) +
                         "; the first " + (LONG / 2) + " shown ");
      const more = el("button", {"class": "ex-more"}, "show all " + n);
      more.addEventListener("click", function (e) { e.stopPropagation(); expanded[key] = true; drawTrace(); });
      summary.appendChild(more);
      idx = idx.slice(0, LONG / 2);
      const wrap = el("div");
      wrap.appendChild(summary);
      wrap.appendChild(box);
      fill(box, s, idx, scale);
      return wrap;
    }
    fill(box, s, idx, scale);
    if (s.top) box.appendChild(el("span", {"class": "ex-small", "style": "width:auto"}, "(the 16 largest of " + s.vec.length + ")"));
    return box;
  }
  function fill(box, s, idx, scale) {
    idx.forEach(function (i) {
      const v = s.vec[i];
      const c = el("span", {"title": (s.labels ? s.labels[i] : "feature " + i) + ": " + v});
      c.textContent = s.labels ? s.labels[i] + " " + fmt(v) : fmt(v);
      if (s.labels) c.style.width = "auto";
      c.style.background = s.weights ? blue(v) : diverging(v, scale);
      if (s.weights) c.style.color = textOn(v);
      if (s.heads && i % HD === 0 && i > 0) c.style.marginLeft = "6px";  // head boundaries
      box.appendChild(c);
    });
  }

  let stages = [];
  function drawTrace() {
    const box = $("ex-stages");
    box.innerHTML = "";
    stages = stagesFor(state.pos);
    if (!stages) {
      box.appendChild(el("p", {"class": "ex-note"}, "The step-through of position " + state.pos + " was left out (see the note at the top); positions with it: " +
                         Object.keys(D.trace).join(", ") + "."));
      $("ex-stage-count").textContent = "";
      return;
    }
    state.stage = Math.min(state.stage, stages.length - 1);
    stages.forEach(function (s, i) {
      const d = el("div", {"class": "ex-stage" + (i === state.stage ? " ex-cur" : "") + (!state.all && i !== state.stage ? " ex-hidden" : "")});
      const head = el("div", {"class": "ex-what"});
      head.appendChild(el("b", null, (i + 1) + ". " + s.what));
      head.appendChild(el("span", {"class": "ex-formula"}, s.formula + "   [" + s.vec.length + "]"));
      d.appendChild(head);
      d.appendChild(vecView(s, state.pos + "/" + i));
      d.addEventListener("click", function () { state.stage = i; drawTrace(); });
      box.appendChild(d);
    });
    $("ex-stage-count").textContent = "position " + state.pos + " (" + D.tokens[state.pos] + "): step " + (state.stage + 1) + " of " + stages.length;
  }
  function step(by) {
    if (!stages) return;
    state.stage = Math.max(0, Math.min(stages.length - 1, state.stage + by));
    drawTrace();
    const cur = document.querySelector(".ex-stage.ex-cur");
    if (cur && cur.scrollIntoView) cur.scrollIntoView({block: "nearest"});
  }
  $("ex-prev").addEventListener("click", function () { step(-1); });
  $("ex-next").addEventListener("click", function () { step(1); });
  $("ex-all").addEventListener("click", function () {
    state.all = !state.all;
    $("ex-all").textContent = state.all ? "One at a time" : "Show all";
    drawTrace();
  });
  $("ex-all").textContent = "One at a time";

  // ---------------------------------------------------------------- 4. sampling
  // generate's distribution (minigpt.gpt._next_id), operation for operation
  function nextTokenProbs(logits, temperature, topK) {
    const V = logits.length;
    const order = [];
    for (let i = 0; i < V; i++) order.push(i);
    order.sort(function (a, b) { return logits[b] - logits[a] || a - b; });  // largest first; ties: lower id
    const probs = new Array(V).fill(0);
    if (temperature === 0) { probs[order[0]] = 1; return probs; }
    const keep = topK ? order.slice(0, topK) : order;
    const top = logits[order[0]];
    keep.forEach(function (i) { probs[i] = Math.exp((logits[i] - top) / temperature); });
    let total = 0;
    for (let i = 0; i < V; i++) total += probs[i];  // Python's sum: in index order
    return probs.map(function (p) { return p / total; });
  }
  window.exploreNextTokenProbs = nextTokenProbs;

  // Python's random.Random(seed): MT19937 seeded by init_by_array, random() from 53 bits
  function MersenneTwister(seed) {
    const N = 624, mt = new Uint32Array(N);
    let mti = N;
    function initGenrand(s) {
      mt[0] = s >>> 0;
      for (let i = 1; i < N; i++) mt[i] = (Math.imul(1812433253, mt[i - 1] ^ (mt[i - 1] >>> 30)) + i) >>> 0;
    }
    const key = [];
    let n = seed;
    do { key.push(n % 4294967296); n = Math.floor(n / 4294967296); } while (n > 0);
    initGenrand(19650218);
    let i = 1, j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1664525)) + key[j] + j) >>> 0;
      i++; j++;
      if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
    }
    mt[0] = 0x80000000;
    function genrand() {
      if (mti >= N) {
        for (let k = 0; k < N; k++) {
          const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
          mt[k] = mt[(k + 397) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
        }
        mti = 0;
      }
      let y = mt[mti++];
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      return y >>> 0;
    }
    this.random = function () {
      const a = genrand() >>> 5, b = genrand() >>> 6;
      return (a * 67108864 + b) / 9007199254740992;
    };
  }
  function sampleIndex(probs, r) {  // minigpt.gpt._sample
    let cumulative = 0;
    for (let i = 0; i < probs.length; i++) {
      cumulative += probs[i];
      if (r < cumulative) return i;
    }
    for (let i = probs.length - 1; i >= 0; i--) if (probs[i] > 0) return i;
    return 0;
  }

  let rng = null, draws = [], lastDrawn = null;
  function settings() {
    const temperature = parseFloat($("ex-temp").value);
    const k = parseInt($("ex-topk").value, 10);
    return {temperature: temperature, topK: k > 0 ? k : null};
  }
  function drawProbs() {
    const s = settings();
    $("ex-temp-out").textContent = s.temperature.toFixed(2) + (s.temperature === 0 ? " (greedy)" : "");
    const probs = nextTokenProbs(D.sampling.logits, s.temperature, s.topK);
    const box = $("ex-probs");
    box.dataset.probs = JSON.stringify(probs);
    box.dataset.settings = JSON.stringify(s);
    box.innerHTML = "";
    const base = nextTokenProbs(D.sampling.logits, 1, null);
    const order = base.map(function (_, i) { return i; }).sort(function (a, b) { return base[b] - base[a] || a - b; });
    const shown = order.slice(0, 15);
    box.appendChild(el("p", {"class": "ex-small"}, "After '" + D.tokens.join(" ") + "': the 15 tokens most likely at temperature 1 " +
                       "(grey: cut by top-k), with their probability now:"));
    shown.forEach(function (i) {
      const row = el("div", {"class": "ex-prob-row" + (probs[i] === 0 ? " ex-cut" : "") + (i === lastDrawn ? " ex-drawn" : "")});
      row.appendChild(el("span", {"class": "ex-name"}, tokName(i)));
      const bb = el("div", {"class": "ex-barbox"});
      const bar = el("div");
      bar.style.width = (100 * probs[i]) + "%";
      bb.appendChild(bar);
      row.appendChild(bb);
      row.appendChild(el("span", null, pct(probs[i])));
      box.appendChild(row);
    });
    const rest = probs.length - shown.length;
    if (rest > 0) {
      let p = 0;
      order.slice(15).forEach(function (i) { p += probs[i]; });
      box.appendChild(el("p", {"class": "ex-small"}, "the other " + rest + " tokens: " + pct(p) + " together"));
    }
  }
  function resetDraws() {
    const seed = parseInt($("ex-seed").value, 10);
    rng = new MersenneTwister(Number.isFinite(seed) && seed >= 0 ? seed : 0);
    draws = []; lastDrawn = null;
    $("ex-draws").textContent = "";
    drawProbs();
  }
  // the controls start where the data says (explore_data: temperature 1, all tokens, seed 0)
  $("ex-temp").value = D.sampling.temperature;
  $("ex-topk").value = D.sampling.top_k || 0;
  $("ex-seed").value = D.sampling.seed;
  $("ex-temp").addEventListener("input", drawProbs);
  $("ex-topk").addEventListener("input", drawProbs);
  $("ex-seed").addEventListener("change", resetDraws);
  $("ex-reseed").addEventListener("click", resetDraws);
  $("ex-sample").addEventListener("click", function () {
    if (!rng) resetDraws();
    const s = settings();
    const probs = nextTokenProbs(D.sampling.logits, s.temperature, s.topK);
    let id;
    if (s.temperature === 0) {  // greedy: generate draws no random number
      id = probs.indexOf(1);
    } else {
      id = sampleIndex(probs, rng.random());
    }
    draws.push(id);
    lastDrawn = id;
    $("ex-draws").textContent = "seed " + $("ex-seed").value + ", draw " + draws.length + ": " + tokName(id) +
      "   (so far: " + draws.map(tokName).join(", ") + ")";
    $("ex-draws").dataset.ids = JSON.stringify(draws);
    drawProbs();
  });

  // ---------------------------------------------------------------- 5. which input mattered
  function targetsFor(t) {
    const out = [];
    Object.keys(D.saliency).forEach(function (k) {
      const parts = k.split(":");
      if (+parts[0] === t) out.push(+parts[1]);
    });
    return out;
  }
  function drawSaliency() {
    const box = $("ex-targets");
    box.innerHTML = "";
    const targets = targetsFor(state.pos);
    if (state.target === null || targets.indexOf(state.target) < 0) state.target = targets.length ? targets[0] : null;
    box.appendChild(el("span", null, "position " + state.pos + " (" + D.tokens[state.pos] + "), target:"));
    targets.forEach(function (y) {
      const isNext = state.pos + 1 < T && D.ids[state.pos + 1] === y;
      const b = el("button", {"class": y === state.target ? "ex-on" : "", "title": isNext ? "the prompt's next token" : "a top prediction"},
                   tokName(y) + (isNext ? " (next in the prompt)" : ""));
      b.addEventListener("click", function () { state.target = y; drawSaliency(); drawAttention(); });
      box.appendChild(b);
    });
    const out = $("ex-sal");
    out.innerHTML = "";
    const s = currentSaliency();
    if (!s) {
      out.appendChild(el("p", {"class": "ex-note"}, "The gradients for position " + state.pos + " were left out (see the note at the top)."));
      return;
    }
    out.appendChild(el("p", null, "loss = \u2212log p(" + tokName(s.target) + " | " + D.tokens.slice(0, s.position + 1).join(" ") +
                       ") = " + fmt(s.loss) + "   (p = " + fmt(s.prob) + ")"));
    const big = maxAbs(s.inputs);
    const row = el("div");
    D.tokens.forEach(function (tok, i) {
      const c = el("span", {"class": "ex-sal-tok", "title": "|grad| " + s.inputs[i] + ", grad\u00b7x " + s.grad_x_input[i]}, tok);
      const v = big > 0 ? s.inputs[i] / big : 0;
      c.style.background = "rgba(217, 72, 15, " + (0.08 + 0.8 * v).toFixed(3) + ")";
      c.style.color = v > 0.6 ? "white" : "#222";
      row.appendChild(c);
    });
    out.appendChild(row);
    const table = el("table");
    const h = el("tr"), n = el("tr"), g = el("tr");
    h.appendChild(el("th", null, "input"));
    n.appendChild(el("th", null, "|grad|"));
    g.appendChild(el("th", null, "grad\u00b7x"));
    D.tokens.forEach(function (tok, i) {
      h.appendChild(el("th", null, i + " " + tok));
      n.appendChild(el("td", null, fmt(s.inputs[i])));
      g.appendChild(el("td", null, fmt(s.grad_x_input[i])));
    });
    table.appendChild(h); table.appendChild(n); table.appendChild(g);
    out.appendChild(table);
  }

  // ---------------------------------------------------------------- one update for every section
  function update() {
    tokButtons.forEach(function (b, t) { b.classList.toggle("ex-chosen", t === state.pos); b.setAttribute("aria-pressed", t === state.pos); });
    state.key = Math.min(state.key, state.pos);
    drawSaliency();
    drawAttention();
    drawTrace();
  }
  function strongestKey() {  // the key the chosen query gives the most weight in the chosen head
    const w = D.attention[state.layer][state.head].weights[state.pos];
    let best = 0;
    for (let j = 1; j < w.length; j++) if (w[j] > w[best]) best = j;
    return best;
  }
  function choosePosition(t) {
    state.pos = Math.max(0, Math.min(T - 1, t));
    state.key = strongestKey();
    update();
  }

  document.addEventListener("keydown", function (e) {
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === "ArrowLeft") { choosePosition(state.pos - 1); e.preventDefault(); }
    else if (e.key === "ArrowRight") { choosePosition(state.pos + 1); e.preventDefault(); }
    else if (e.key === "n" || e.key === "N") step(1);
    else if (e.key === "p" || e.key === "P") step(-1);
    else if (e.key === "h" || e.key === "H") {
      const k = (state.layer * H + state.head + 1) % (L * H);
      state.layer = Math.floor(k / H); state.head = k % H;
      state.key = strongestKey();
      drawAttention();
    }
  });

  state.key = strongestKey();
  update();
  resetDraws();
  document.body.dataset.ready = "1";
})();
