// Run the page's inline script against a minimal DOM stub: catches syntax and runtime errors in draw().
const fs = require('fs');
const html = fs.readFileSync(process.argv[2], 'utf8');
const data = html.match(/<script type="application\/json" id="attention-data">([\s\S]*?)<\/script>/)[1];
const code = html.match(/<script>([\s\S]*?)<\/script>/)[1];
let calls = {stroke: 0, fillText: 0};
function ctx() { return new Proxy({}, {get: (t, k) => (k in t ? t[k] : (k === 'stroke' || k === 'fillText') ? () => calls[k]++ : () => {}), set: (t, k, v) => { t[k] = v; return true; }}); }
function el(id) {
  const e = {id, children: [], style: {}, options: [], listeners: {}, textContent: id === 'attention-data' ? data : '',
    add(o) { this.options.push(o); }, appendChild(c) { this.children.push(c); }, getContext: () => ctx(),
    addEventListener(t, f) { this.listeners[t] = f; }, getBoundingClientRect: () => ({left: 0, top: 0})};
  Object.defineProperty(e, 'innerHTML', {set() { e.children = []; }});
  return e;
}
const els = {};
global.document = {getElementById: id => els[id] || (els[id] = el(id)), createElement: t => el(t)};
global.window = {devicePixelRatio: 1};
global.Option = function (t, v) { this.text = t; this.value = v; };
eval(code);
const c = els['head-0'];
c.listeners.mousemove({clientX: 20, clientY: 6 + 20 * 3 + 5});
c.listeners.click({clientX: 20, clientY: 6 + 20 * 2 + 5});
const kids = els['model-0'].children; kids[kids.length - 1].onclick();  // the last layer's last head
els['head'].value = 'all'; els['head'].onchange();
console.log(JSON.stringify({ok: true, grid: els['model-0'].children.length, focus: els['focus'].textContent, calls}));
