"""axe-core in the page: labels, accessible names and WCAG AA contrast, as a browser computes them."""

from __future__ import annotations

from pathlib import Path

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
RULES = [
    "label",
    "color-contrast",
    "button-name",
    "link-name",
    "image-alt",
    "input-button-name",
    "select-name",
    "html-has-lang",
    "html-lang-valid",
    "document-title",
    "aria-required-attr",
    "aria-valid-attr-value",
    "aria-allowed-attr",
    "duplicate-id-aria",
    "frame-title",
    "form-field-multiple-labels",
    "list",
    "listitem",
    "th-has-data-cells",
    "td-headers-attr",
    "nested-interactive",
    "scrollable-region-focusable",
]


def violations(page, exclude: list[str] | None = None) -> list[str]:
    """Readable descriptions of every violation of RULES on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated through DevTools, not as an inline <script>: the pages' CSP forbids inline scripts
        page.evaluate("() => {\n" + AXE + "\n}")
    context = {"exclude": [[sel] for sel in (exclude or [])]} if exclude else None
    result = page.evaluate(
        "async ([ctx, rules]) => await axe.run(ctx || document, {runOnly: {type: 'rule', values: rules}})",
        [context, RULES],
    )
    out = []
    for v in result["violations"]:
        for node in v["nodes"][:5]:
            out.append(f"{v['id']}: {node['target']} — {node.get('failureSummary', '').splitlines()[-1:]}")
    return out
