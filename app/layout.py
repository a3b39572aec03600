"""The page's look: the inputs in a side column and the views beside it, so that at 1280x800 the tab bar and the
active view's whole figure sit in the window once an image is picked (a strip above the tabs leaves ~260 px for a
~540 px figure); figures that use the width on wide screens; and the presenter mode (larger text, full-width
figures, the side panels hidden) for projecting in a classroom, switched by a checkbox or by `?presenter=1` in the URL.

CSS and JavaScript only (no Gradio components): `CSS` goes to `launch(css=...)`, `PRESENTER_JS` is the checkbox's
client-side handler, `ON_LOAD_JS` reads the URL parameter when the page opens.
"""
from __future__ import annotations

#: The body class that presenter mode sets.
PRESENTER = "presenter"
#: Width of the inputs' side column (px).
SIDE_PX = 290
#: Below this width the views' column wraps under the inputs (phones); the page then scrolls.
VIEWS_MIN_PX = 560
#: The width a view has at 1280x800 (Gradio's 1216 px content, less the side column and the gap): the app draws its
#: wide figures at this width, so that they are shown 1:1 and their text stays >= 12 px (fpn.viz.MIN_TEXT_PX).
VIEW_PX = 1216 - SIDE_PX - 16
#: The pyramid figure's width: 4/5 of a view, the clicked cell's readout beside it (app/tabs/pyramid.py).
PYRAMID_PX = VIEW_PX * 4 // 5 - 24
#: Fig. 3's map width: its four maps, their titles and the "+" / "=" between them in one view.
MERGE_PANEL_PX = (VIEW_PX - 140) // 4

CSS = """
/* the side column: the model card scrolls inside its box */
#model-card { max-height: 116px; overflow-y: auto; font-size: 13px; line-height: 1.35; }
#input-side { gap: 8px; }
/* all nine tabs in the views' column at 1280 px (Gradio moves those that do not fit into a "..." menu) */
#views .tab-container button { padding-left: 8px !important; padding-right: 8px !important; }
#model-card p { margin: 0 0 4px 0; }
#header h1 { margin: 0; font-size: 22px; display: inline; }
#header p { display: inline; }
/* the example thumbnails: three in a row of the side column (Gradio keeps them 100 px wide and overflows) */
#examples-photo .grid-container, #examples-dataset .grid-container {
  grid-template-columns: repeat(3, minmax(0, 1fr)) !important; grid-auto-rows: 64px !important; }
#examples-photo .thumbnail-item, #examples-dataset .thumbnail-item { height: 64px !important; }
#load-msg p { margin: 0; font-size: 13px; }
/* a figure's label on its own line above the figure (Gradio floats it over the picture's top-left corner, where
   the figures draw their titles) */
#views [id^=out-] label[data-testid=block-label].float:not(.hide) { position: relative !important; top: 0;
                                                                    left: 0; margin-bottom: 4px; }
/* wide screens: the page uses the width (Gradio caps it at 1280 px otherwise) */
@media (min-width: 1600px) { .gradio-container { max-width: 96vw !important; }
  /* and the figures grow to their frames (drawn for 1280 px, their text only gets larger) */
  #views [id^=out-] .image-frame { width: 100% !important; }
  #views [id^=out-] img { width: 100% !important; height: auto !important; max-height: 85vh !important;
                          object-fit: contain; } }
/* presenter mode: larger text, the figures full width, what a projected page does not need hidden */
body.presenter .gradio-container { max-width: 100vw !important; font-size: 20px; }
/* the inputs go above the views, in one row (model, threshold, upload): the figures get the page's width */
body.presenter #page { flex-direction: column !important; }
body.presenter #input-side { flex-direction: row !important; flex-wrap: wrap; align-items: flex-end;
                             width: 100% !important; min-width: 100% !important; }
body.presenter #input-side > * { flex: 1 1 220px !important; }
body.presenter .prose, body.presenter .prose p, body.presenter label span { font-size: 20px !important; }
body.presenter [role=tab] { font-size: 20px !important; }
body.presenter .presenter-hide, body.presenter [id^=export-], body.presenter #preview, body.presenter #model-card,
body.presenter #image-file, body.presenter #det-json { display: none !important; }
body.presenter #det-note { font-size: 20px; }
body.presenter #out-detect { flex: 1 1 100% !important; min-width: 100% !important; }  /* the note wraps below */
body.presenter [id^=out-] .image-frame { width: 100% !important; }
body.presenter [id^=out-] img { width: 100% !important; height: auto !important; max-height: 85vh !important;
                                object-fit: contain; }
"""

#: The presenter checkbox's handler (runs in the browser): sets or clears the body class, keeps the value.
PRESENTER_JS = f"(on) => {{ document.body.classList.toggle('{PRESENTER}', !!on); return on; }}"

#: On page load: `?presenter=1` (or `true`, `on`) turns presenter mode on; returns the checkbox's value.
ON_LOAD_JS = ("() => { const v = new URLSearchParams(window.location.search).get('presenter'); "
              "const on = ['1', 'true', 'on', 'yes'].includes((v || '').toLowerCase()); "
              f"document.body.classList.toggle('{PRESENTER}', on); return on; }}")
