"""FPN Explorer's Gradio app. Run `python app.py` (see app.py for flags); the pieces:

    images    robust image loading (clear messages for bad files)    examples  offline example images (+ GT)
    models    checkpoint registry (lazy, cached)                     analysis  one model run per (image, model)
    choices   what a person can pick (from the library)              errors    AppError: a message for the user
    view_cache  drawn views kept with their analysis (a repeated request is not drawn again)
    views     Explorer: one method per view, Gradio-free (the API)   guard     handler errors -> toasts
    provenance, insight, compare_view   more views, mixed into Explorer (WhyViews, InsightViews, CompareViews)
    tabs/     one module per tab: widgets + events                   ui        the page: input row + tabs
    server    create_app, launch options (privacy defaults)

One shape for every view: a method of `app.views.Explorer`,
    view(path, model or models, *widget values, progress=None) -> ViewResult
(pictures, their numbers, the Python that redraws them, a note), raising AppError for a request it cannot serve.
The views of one tab family live in their own module as a mixin class (no Gradio, no state of its own: it uses
Explorer's analysis, registry, examples and setup_code); the tabs bind `explorer.<view>` to widgets and the same
methods are the API endpoints. A pick between named options is a `choices.Choice` enum, parsed from its label and
compared by identity. The registry raises AppError itself for an unknown model.

The app uses only the library's public API (`fpn`, `fpn.viz`, `fpn.data`, `fpn.mask_proposals`; tests/test_app_api.py).
"""
