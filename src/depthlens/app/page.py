"""The explorer's single page: inline CSS and JS only, no external assets.

User text never goes into the DOM as markup from this script: results are the
server's escaped report HTML shown in a sandboxed iframe (srcdoc), and error
messages are set with textContent.
"""
from __future__ import annotations

from html import escape

DEFAULT_METHODS = ("gradient", "integrated_gradients", "attention_norm", "decoded_gradcam")

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px}header b{font-size:18px}
main{display:grid;grid-template-columns:320px 1fr;gap:16px;padding:16px}
form{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px}
label{display:block;font-weight:600;margin:10px 0 4px}
textarea,select,input[type=text]{width:100%;box-sizing:border-box;font:inherit;padding:6px}
button{margin-top:12px;padding:8px 14px;font:inherit;border-radius:6px;border:0;
 background:#2f6fde;color:#fff;cursor:pointer}button:disabled{background:#9ab}
#status{margin-top:8px;min-height:1.4em}.err{color:#b00020}#counter{font-size:13px;color:#667}
#counter.err{color:#b00020}.methods label,label.check{font-weight:400;margin:2px 0}
#result{width:100%;height:calc(100vh - 110px);border:1px solid #dde1e7;border-radius:8px;
 background:#fff}.links a{margin-right:12px}
"""

SCRIPT = """
const form = document.getElementById('f');
const status = document.getElementById('status');
const frame = document.getElementById('result');
const links = document.getElementById('links');
const counter = document.getElementById('counter');
let last = null;
function download(name, type, text) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], {type}));
  a.download = name; a.click();
}
document.getElementById('dl-json').onclick = e => { e.preventDefault();
  if (last) download('explanations.jsonl', 'application/jsonl',
                     last.explanations.map(x => JSON.stringify(x) + '\\n').join('')); };
document.getElementById('dl-html').onclick = e => { e.preventDefault();
  if (last) download('explanation.html', 'text/html', last.html); };
function count() {
  const n = form.text.value.length, max = Number(form.text.dataset.max);
  counter.textContent = n + ' / ' + max + ' characters' +
    (n > max ? ': too long, shorten the text' : '');
  counter.className = n > max ? 'err' : '';
}
const checked = name => [...form.querySelectorAll('input[name=' + name + ']:checked')];
function pairs() {
  const ok = checked('model').every(x => x.dataset.pairs === '1');
  form.pair.disabled = !ok;
  form.pair.placeholder = ok ? '' : 'a chosen model takes single texts';
}
form.text.oninput = count;
form.querySelectorAll('input[name=model]').forEach(x => x.onchange = pairs);
count(); pairs();
form.onsubmit = async e => {
  e.preventDefault();
  const models = checked('model').map(x => x.value);
  if (!models.length) {
    status.className = 'err'; status.textContent = 'choose at least one model'; return;
  }
  const methods = checked('method').map(x => x.value);
  const body = {text: form.text.value, pair: form.pair.disabled ? null : form.pair.value || null,
                models, methods, layer: form.layer.value || null,
                target: form.elements.target.value || null, metrics: form.metrics.checked};
  const button = form.querySelector('button');
  button.disabled = true; status.className = '';
  status.textContent = body.metrics ? 'explaining and erasing tokens for the metrics…'
                                     : 'explaining…';
  try {
    const r = await fetch('/api/explain', {method: 'POST',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || r.statusText);
    last = data;
    frame.srcdoc = data.html;
    const failed = Object.entries(data.failures);
    status.textContent = data.explanations.length + ' explanation(s)' +
      (failed.length ? '; failed: ' + failed.map(([k, v]) => k + ' (' + v + ')').join('; ') : '');
    links.hidden = false;
  } catch (err) {
    status.className = 'err'; status.textContent = err.message;
  } finally { button.disabled = false; }
};
"""


def index_page(models: dict[str, bool], methods: dict[str, str], max_chars: int) -> str:
    """The explorer page for the loaded ``models`` ({name: takes text pairs}) and
    ``methods`` ({name: one-line summary, shown on hover}).

    Texts over ``max_chars`` are not cut by the browser: the counter turns red and the
    server answers with the limit.
    """
    model_boxes = "".join(
        f'<label><input type="checkbox" name="model" id="model-{n}" value="{escape(m)}" '
        f'data-pairs="{int(pairs)}"{" checked" if n == 0 else ""}> {escape(m)}</label>'
        for n, (m, pairs) in enumerate(models.items()))
    boxes = "".join(
        f'<label title="{escape(summary)}"><input type="checkbox" name="method" value="{escape(m)}"'
        f'{" checked" if m in DEFAULT_METHODS else ""}> {escape(m)}</label>'
        for m, summary in methods.items())
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>depthlens explorer</title><style>{STYLE}</style></head><body>
<header><b>depthlens</b> explorer: which words matter, seen from every layer</header><main>
<form id="f"><label for="text">Text</label>
<textarea id="text" name="text" rows="5" data-max="{max_chars}" required
 placeholder="a gorgeous, witty, seductive movie."></textarea><div id="counter"></div>
<label for="pair">Pair (optional, e.g. NLI hypothesis)</label>
<input type="text" id="pair" name="pair">
<label>Models <small>(several: side by side)</small></label>
<div class="methods">{model_boxes}</div>
<label>Methods <small>(hover for what each computes)</small></label>
<div class="methods">{boxes}</div>
<label for="layer">Layer (methods that take one)</label>
<select id="layer" name="layer"><option value="all">all layers</option>
<option value="">input only</option></select>
<label for="target">Target label (empty: predicted)</label>
<input type="text" id="target" name="target">
<label class="check"><input type="checkbox" id="metrics" name="metrics"> also run the
faithfulness metrics for this input (hiding, revealing, comprehensiveness, sufficiency)</label>
<button type="submit">Explain</button><div id="status" role="status"></div>
<div id="links" class="links" hidden><a href="#" id="dl-json">download JSON</a>
<a href="#" id="dl-html">download HTML</a></div></form>
<iframe id="result" title="explanations" sandbox="allow-scripts"></iframe>
</main><script>{SCRIPT}</script></body></html>"""
