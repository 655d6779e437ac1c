// The inbox by keyboard: j / k move a visible selection over the page's rows, Enter opens the
// selected review, / focuses the search box. Keys typed in a text field stay text. The selection is
// kept by review id on the window, so the list refreshing itself every few seconds keeps it.
export default function ({ parentElement }) {
  const doc = parentElement.ownerDocument || document;
  const win = doc.defaultView || window;
  const state = (win.__hitlInboxKeys = win.__hitlInboxKeys || { selected: null });
  const LINK = 'a[href*="review?id="]';

  const idOf = (row) => new URL(row.querySelector(LINK).href, doc.baseURI).searchParams.get("id");
  const rows = () => Array.from(doc.querySelectorAll('[class*="st-key-inbox_row_"]')).filter((r) => r.querySelector(LINK));
  const typing = (el) => !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

  const paint = () => {
    for (const row of rows()) {
      const on = idOf(row) === state.selected;
      if (on === row.hasAttribute("data-inbox-selected")) continue;
      row.toggleAttribute("data-inbox-selected", on);
      row.style.outline = on ? "2px solid var(--st-primary-color, #ff4b4b)" : "";
      row.style.outlineOffset = on ? "2px" : "";
      row.style.borderRadius = on ? "0.5rem" : "";
      if (on) row.scrollIntoView({ block: "nearest" });
    }
  };

  const move = (step) => {
    const ids = rows().map(idOf);
    const at = ids.indexOf(state.selected);
    const next = at < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, at + step));
    state.selected = ids[next] ?? null;
    paint();
  };

  const onKey = (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.composedPath()[0];
    if (typing(target) || typing(doc.activeElement)) return;
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      move(event.key === "j" ? 1 : -1);
    } else if (event.key === "/") {
      const box = doc.querySelector(".st-key-inbox_search input");
      if (box) {
        event.preventDefault();
        box.focus();
      }
    } else if (event.key === "Enter" && !(target.closest && target.closest("a, button, [role=button]"))) {
      const row = rows().find((r) => idOf(r) === state.selected);
      if (row) {
        event.preventDefault();
        row.querySelector(LINK).click();
      }
    }
  };

  if (win.__hitlInboxKeysOff) win.__hitlInboxKeysOff();
  doc.addEventListener("keydown", onKey);
  const observer = new MutationObserver(paint);
  observer.observe(doc.body, { childList: true, subtree: true });
  paint();
  const off = () => {
    doc.removeEventListener("keydown", onKey);
    observer.disconnect();
    if (win.__hitlInboxKeysOff === off) win.__hitlInboxKeysOff = null;
  };
  win.__hitlInboxKeysOff = off;
  return off;
}
