// Stepping through backward on the picture of a graph (minigpt.viz.page).
//
// The page state is one number, k: how many steps of explain_backward have been
// applied. Every node's grad at k is replayed from the step list (each step sets
// one child's grad), so stepping back is as exact as stepping forward.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("mg-data").textContent);
  const svg = document.querySelector("#mg-picture svg");
  const line = document.getElementById("mg-line");
  const counter = document.getElementById("mg-counter");
  const info = document.getElementById("mg-info");
  const forwardBox = document.getElementById("mg-forward");

  // Graphviz titles each node and edge group with its DOT id: "n3", "o3", "n3->o7".
  const drawn = {};
  svg.querySelectorAll("g.node, g.edge").forEach(function (g) {
    const title = g.querySelector("title");
    if (title) drawn[title.textContent] = g;
  });
  const nodes = {};
  const owner = {};   // drawn id -> the node it belongs to (a record, or its op circle)
  data.nodes.forEach(function (n) {
    nodes[n.id] = n;
    owner[n.id] = n.id;
    if (n.opId) owner[n.opId] = n.id;
  });
  // the <text> that shows each node's grad: "grad 6.0", "grad norm 0.25", or
  // "288 ops, grad norm 0.25" in a box (then `before` is what stays in the forward view)
  const gradText = {};
  data.nodes.forEach(function (n) {
    const g = drawn[n.id];
    if (!g) return;
    g.querySelectorAll("text").forEach(function (t) {
      const m = /^(.*?)(grad (?:norm )?)\S+$/.exec(t.textContent);
      if (m && (m[1] === "" || m[1].slice(-2) === ", ")) {
        t.classList.add("mg-grad");
        gradText[n.id] = {el: t, before: m[1], label: m[1] + m[2]};
      }
    });
  });

  // The picture is scaled to the width of the window, up to 2 times its size, but
  // never so far down that its smallest text is under 11 px: a bigger one scrolls.
  const fontSizes = Array.prototype.map.call(svg.querySelectorAll("text"), function (t) {
    return parseFloat(t.getAttribute("font-size"));
  }).filter(function (size) { return size > 0; });
  const smallest = fontSizes.length ? Math.min.apply(null, fontSizes) : 11;  // points
  const legible = 11 / (smallest * 4 / 3);
  function fit() {
    const box = svg.viewBox.baseVal;
    const room = document.getElementById("mg-picture").clientWidth - 4;
    if (box && box.width > 0) {
      const scale = Math.max(legible, Math.min(2, room / box.width * 0.75));
      svg.style.width = (box.width * scale * 4 / 3) + "px";  // viewBox units are points
    }
  }
  fit();
  window.addEventListener("resize", fit);

  let k = 0;           // steps applied
  let grads = {};      // node id -> grad text at k
  let selected = null; // node id shown in the side panel

  function gradsAt(k) {
    const g = {};
    data.nodes.forEach(function (n) { g[n.id] = "0.0"; });
    for (let i = 0; i < k; i++) g[data.steps[i].child] = data.steps[i].after;
    return g;
  }

  function mark(id, cls) { if (drawn[id]) drawn[id].classList.add(cls); }

  function show() {
    const forward = forwardBox.checked;
    grads = gradsAt(k);
    Object.keys(gradText).forEach(function (id) {
      const t = gradText[id];
      t.el.textContent = forward ? t.before.replace(/, $/, "") : t.label + grads[id];
      t.el.style.visibility = forward && t.before === "" ? "hidden" : "visible";
    });
    svg.querySelectorAll(".mg-child, .mg-parent, .mg-edge").forEach(function (g) {
      g.classList.remove("mg-child", "mg-parent", "mg-edge");
    });
    const step = k > 0 ? data.steps[k - 1] : null;
    if (forward) {
      line.textContent = "Forward values: each record shows its data; grads are hidden.";
    } else if (step === null) {
      line.textContent = "Before backward: every grad is 0. Step (\u2192) to seed the output, End to run it all.";
    } else {
      line.textContent = step.text;
      mark(step.child, "mg-child");
      if (step.parent !== null && data.collapsed) {   // boxes: one edge, box to box
        mark(step.parent, "mg-parent");
        mark(step.child + "->" + step.parent, "mg-edge");
      } else if (step.parent !== null) {              // every node: child -> op -> result
        const op = nodes[step.parent].opId;
        mark(step.parent, "mg-parent");
        mark(op, "mg-parent");
        mark(step.child + "->" + op, "mg-edge");
        mark(op + "->" + step.parent, "mg-edge");
      }
    }
    if (step !== null && drawn[step.child]) reveal(drawn[step.child]);
    counter.textContent = "step " + k + " of " + data.steps.length;
    if (selected !== null) describe(selected);
  }

  // On a big graph, bring the node being updated to the middle when it is out of
  // sight (above the window, under the sticky header, or outside the picture's box).
  function reveal(g) {
    const r = g.getBoundingClientRect();
    const top = document.querySelector("header").getBoundingClientRect().bottom;
    const box = document.getElementById("mg-picture").getBoundingClientRect();
    if (r.top < top || r.bottom > window.innerHeight || r.left < box.left || r.right > box.right) {
      g.scrollIntoView({block: "center", inline: "center"});
    }
  }

  function go(to) {
    k = Math.max(0, Math.min(data.steps.length, to));
    show();
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  // the side panel: op, data, grad now, and each child with its local derivative
  function describe(id) {
    const n = nodes[id];
    svg.querySelectorAll(".mg-selected").forEach(function (g) { g.classList.remove("mg-selected"); });
    mark(id, "mg-selected");
    info.replaceChildren();
    const h = document.createElement("h2");
    h.textContent = n.name;
    info.appendChild(h);
    const table = document.createElement("table");
    [["op", n.op || "(leaf)"], ["data", n.data || "-"],
     [n.norm ? "grad norm" : "grad", forwardBox.checked ? "(hidden)" : grads[id]]].forEach(function (pair) {
      const row = table.insertRow();
      cell(row, pair[0]);
      cell(row, pair[1]);
    });
    info.appendChild(table);
    if (n.children.length) {
      const p = document.createElement("p");
      p.textContent = data.collapsed ? "inputs, with the gradient that flows back to each:"
                                     : "children, with \u2202" + n.name + "/\u2202child:";
      info.appendChild(p);
      const kids = document.createElement("table");
      n.children.forEach(function (c) {
        const row = kids.insertRow();
        cell(row, nodes[c[0]].name);
        if (!data.collapsed) cell(row, "data " + nodes[c[0]].data);
        cell(row, (data.collapsed ? "flow " : "local ") + c[1]);
      });
      info.appendChild(kids);
    }
  }

  svg.querySelectorAll("g.node").forEach(function (g) {
    g.addEventListener("click", function () {
      const id = owner[g.querySelector("title").textContent];
      if (id !== undefined) {
        selected = id;
        describe(id);
      }
    });
  });

  document.getElementById("mg-reset").addEventListener("click", function () { go(0); });
  document.getElementById("mg-back").addEventListener("click", function () { go(k - 1); });
  document.getElementById("mg-step").addEventListener("click", function () { go(k + 1); });
  document.getElementById("mg-end").addEventListener("click", function () { go(data.steps.length); });
  forwardBox.addEventListener("change", show);
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const keys = {ArrowRight: k + 1, ArrowLeft: k - 1, Home: 0, End: data.steps.length};
    if (e.key in keys) {
      e.preventDefault();
      go(keys[e.key]);
    } else if (e.key === "f" || e.key === "F") {
      forwardBox.checked = !forwardBox.checked;
      show();
    }
  });

  forwardBox.checked = data.forward === true;
  document.getElementById("mg-note").textContent = data.note || "";
  // The page opens at the step whose grads the graph holds (`start`: 0 before
  // backward, the last step after it); "#step=5" or "#step=end" in the address
  // opens it at that step instead.
  const wanted = /step=(\d+|end)/.exec(location.hash);
  go(wanted === null ? data.start : wanted[1] === "end" ? data.steps.length : parseInt(wanted[1], 10));
})();
