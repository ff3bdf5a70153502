"""Links to an HTML anchor in a notebook's Markdown resolve in the book, and typos still fail.

A notebook can mark a place that is not a heading with ``<a id="protocol"></a>`` and link to it
(``[the protocol](02_siamese_contrastive.ipynb#protocol)``): Jupyter, GitHub and the built page
all follow it, but MyST knows only heading anchors and warns "local id not found", which fails
the site's build (``-W``). This transform, run before MyST resolves links, adds every ``id`` of
the page's raw HTML to the anchors MyST knows, so exactly the anchors that exist resolve.
"""

from __future__ import annotations

import re

from docutils import nodes
from docutils.transforms import Transform

HTML_ID = re.compile(r"""<a\s[^>]*\bid=["']([^"']+)["']""", re.I)


class HtmlAnchors(Transform):
    default_priority = 870  # before MyST's ResolveAnchorIds (879)

    def apply(self, **kwargs) -> None:
        slugs = getattr(self.document, "myst_slugs", None)
        if slugs is None:
            slugs = self.document.myst_slugs = {}
        for raw in self.document.findall(nodes.raw):
            if "html" in raw.get("format", "").split():
                for anchor in HTML_ID.findall(raw.astext()):
                    slugs.setdefault(anchor, (raw.line or 0, anchor, anchor))
        env = self.document.settings.env
        if slugs:
            env.metadata[env.docname]["myst_slugs"] = slugs


def setup(app):
    app.add_transform(HtmlAnchors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
