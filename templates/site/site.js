/* The index page's filters and search, over window.PW_DATA (assets/data.js, written by archive/search.py).

   Works opened from disk: no requests, no modules. Text from the portals is only ever set as textContent, never
   parsed as HTML. The filters are kept in the address (#region=上海市&q=细胞), so a filtered list can be
   bookmarked and shared. Search folds text the same way the data was folded: NFKC, lower case, and Traditional to
   Simplified characters through data.fold, so 細胞 finds 细胞; every word typed must appear. */
(function () {
  "use strict";
  var data = window.PW_DATA;
  var form = document.getElementById("filters");
  if (!data || !form) return;
  var list = document.getElementById("entries");
  var count = document.getElementById("count");
  var more = document.getElementById("more");
  var PAGE = 100;
  var FIELDS = ["q", "source", "region", "topic", "kind", "from", "to"];
  var shown = PAGE;
  var found = [];

  function fold(text) {
    var out = "";
    var folded = text.normalize("NFKC").toLowerCase();
    for (var i = 0; i < folded.length; i++) {
      var ch = folded.charAt(i);
      out += data.fold[ch] || ch;
    }
    return out;
  }

  var docs = data.docs.map(function (d) {
    return { id: d[0], title: d[1], source: d[2], region: d[3], topics: d[4], published: d[5], authority: d[6],
             number: d[7], summary: d[8], key: fold([d[1], d[8], d[6], d[7]].join("\n")) };
  });

  function options(select, pairs) {
    pairs.forEach(function (pair) {
      var option = document.createElement("option");
      option.value = pair[0];
      option.textContent = pair[1];
      select.appendChild(option);
    });
  }
  options(form.elements.source, data.sources);
  options(form.elements.region, data.regions);
  options(form.elements.topic, data.topics);
  options(form.elements.kind, data.kinds);

  function readAddress() {
    var params = new URLSearchParams(location.hash.slice(1));
    FIELDS.forEach(function (name) { form.elements[name].value = params.get(name) || ""; });
  }

  function writeAddress() {
    var params = new URLSearchParams();
    FIELDS.forEach(function (name) { if (form.elements[name].value) params.set(name, form.elements[name].value); });
    var hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  }

  function indexOf(pairs, name) {
    for (var i = 0; i < pairs.length; i++) if (pairs[i][0] === name) return i;
    return -1;
  }

  function filter() {
    var f = form.elements;
    var words = fold(f.q.value).split(/\s+/).filter(Boolean);
    var source = f.source.value ? indexOf(data.sources, f.source.value) : null;
    var region = f.region.value ? indexOf(data.regions, f.region.value) : null;
    var topic = f.topic.value ? indexOf(data.topics, f.topic.value) : null;
    var kind = f.kind.value ? indexOf(data.kinds, f.kind.value) : null;
    var from = f.from.value, to = f.to.value;
    return data.entries.filter(function (e) {
      var doc = docs[e[0]];
      if (source !== null && doc.source !== source) return false;
      if (region !== null && doc.region !== region) return false;
      if (topic !== null && doc.topics.indexOf(topic) < 0) return false;
      if (kind !== null && e[1] !== kind) return false;
      if (from && e[2] < from) return false;
      if (to && e[2] > to) return false;
      for (var i = 0; i < words.length; i++) if (doc.key.indexOf(words[i]) < 0) return false;
      return true;
    });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function entry(e) {
    var doc = docs[e[0]];
    var kind = data.kinds[e[1]];  // [name, label]
    var li = element("li", "entry");
    var head = element("p", "entry-head");
    head.appendChild(element("span", "kind kind-" + kind[0], kind[1]));
    head.appendChild(document.createTextNode(" "));
    var time = element("time", null, e[2]);
    time.dateTime = e[2];
    head.appendChild(time);
    head.appendChild(document.createTextNode(" "));
    var link = element("a", null, doc.title);
    link.href = "documents/" + doc.id + ".html";
    head.appendChild(link);
    li.appendChild(head);
    var meta = [data.sources[doc.source][1], data.regions[doc.region][1]];
    if (doc.number) meta.push(doc.number);
    li.appendChild(element("p", "meta", meta.join(" · ")));
    if (doc.summary) li.appendChild(element("p", "summary", doc.summary));
    return li;
  }

  function draw() {
    var fragment = document.createDocumentFragment();
    found.slice(0, shown).forEach(function (e) { fragment.appendChild(entry(e)); });
    list.replaceChildren(fragment);
    var total = data.entries.length;
    count.textContent = found.length === total ? "共 " + total + " 条变动" : "找到 " + found.length + " 条（共 " + total + " 条）";
    more.hidden = found.length <= shown;
  }

  // A text field fires "change" again when it loses focus, so a click on a listed link would redraw the list
  // under the pointer and be lost: the list is redrawn only when a filter really changed.
  var drawnFor = null;

  function update() {
    var key = FIELDS.map(function (name) { return form.elements[name].value; }).join("\u0000");
    if (key === drawnFor) return;
    drawnFor = key;
    found = filter();
    shown = PAGE;
    writeAddress();
    draw();
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  form.addEventListener("reset", function () { setTimeout(update, 0); });
  window.addEventListener("hashchange", function () { readAddress(); update(); });
  more.addEventListener("click", function () {
    var first = shown;
    shown += PAGE;
    draw();
    var next = list.children[first];
    if (next) next.querySelector("a").focus();
  });

  form.hidden = false;
  readAddress();
  update();
})();
