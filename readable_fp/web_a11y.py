"""What Gradio's own components miss for accessibility, mended from outside (measured with axe-core
on Gradio 6.31: 12 violations in light mode and 6 in dark before, none after; tests/test_app.py
runs the same check on this app).

- CSS: AA contrast for placeholders, the subdued "- or -" text, the primary button (white on
  orange was 2.8:1).
- JS (re-applied by a MutationObserver, because Gradio renders galleries, toasts and upload
  zones after the page loads): every upload zone is named after its label (Gradio names them
  all "Click to upload or drop files"); gallery thumbnails are named by their caption instead of
  repeating it as alt text; a toast's header stops being a button that holds a button; and every
  toast is also written into one permanent role="alert" region, because screen readers often skip
  a live region that appears already holding its text.
"""

CSS = """
:root, body { --body-text-color-subdued: #71717a; --input-placeholder-color: #71717a;
  --button-primary-background-fill: #c2410c; --button-primary-background-fill-hover: #9a3412; }
.dark, body.dark { --input-placeholder-color: #a1a1aa;
  --button-primary-background-fill: #c2410c; --button-primary-background-fill-hover: #9a3412; }
"""

JS = r"""() => {
  const setAttr = (el, k, v) => { if (el.getAttribute(k) !== v) el.setAttribute(k, v); };
  let live = null;
  const ensureLive = () => {
    if (live && document.body.contains(live)) return live;
    live = document.createElement('div'); live.id = 'a11y-live';
    live.setAttribute('role', 'alert'); live.setAttribute('aria-live', 'assertive'); live.setAttribute('aria-relevant', 'additions');
    live.style.cssText = 'position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;';
    document.body.appendChild(live); return live;
  };
  const fix = () => {
    // gr.Gallery thumbnails: alt duplicates the visible caption inside the same button; name the button by caption instead
    document.querySelectorAll('button.thumbnail-item').forEach(b => {
      const img = b.querySelector('img'), cap = b.querySelector('.caption-label');
      const text = (cap && cap.textContent.trim()) || (img && (img.getAttribute('title') || img.getAttribute('alt'))) || '';
      if (img) setAttr(img, 'alt', '');
      const m = (b.getAttribute('aria-label') || '').match(/(\d+) of (\d+)/);
      if (text && m) setAttr(b, 'aria-label', `${text} (image ${m[1]} of ${m[2]})`);
    });
    // footer icons (alt repeats the link text)
    document.querySelectorAll('footer img').forEach(i => setAttr(i, 'alt', ''));
    // toast header is a role=button that contains the Close button (nested-interactive)
    document.querySelectorAll('.toast-header[role="button"]').forEach(h => { h.removeAttribute('role'); h.removeAttribute('tabindex'); });
    // announce toasts via a persistent live region (a freshly inserted role=status node is often not announced)
    document.querySelectorAll('.toast-body:not([data-a11y-seen])').forEach(t => {
      t.setAttribute('data-a11y-seen', '1');
      const title = t.querySelector('.toast-title'), msg = t.querySelector('.toast-message-text');
      const txt = `${title ? title.textContent.trim() : ''}: ${msg ? msg.textContent.trim() : ''}`;
      const r = ensureLive(); setTimeout(() => { const p = document.createElement('p'); p.textContent = txt; r.appendChild(p); setTimeout(() => p.remove(), 10000); }, 50);
    });
    // gr.File drop zones all get aria-label="Click to upload or drop files": prefix the block label
    document.querySelectorAll('button.upload-container').forEach(btn => {
      const lab = btn.closest('.block')?.querySelector('label[data-testid="block-label"]');
      const name = lab && lab.textContent.trim();
      if (name) setAttr(btn, 'aria-label', `${name}: click to upload or drop files`);
    });
  };
  fix();
  new MutationObserver(fix).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label', 'alt', 'role'] });
}
"""
