"""FPN Explorer's Gradio app. Run `python app.py` (see app.py for flags); the pieces:

    images    robust image loading (clear messages for bad files)    examples  offline example images (+ GT)
    models    checkpoint registry (lazy, cached)                     analysis  one model run per (image, model)
    choices   what a person can pick (from the library)              errors    AppError: a message for the user
    views     one method per view, Gradio-free (also the API)        guard     handler errors -> toasts
    tabs/     one module per tab: widgets + events                   ui        the page: input row + tabs
    server    create_app, launch options (privacy defaults)

The app uses only the library's public API (`fpn`, `fpn.viz`, `fpn.data`, `fpn.mask_proposals`; tests/test_app_api.py).
"""
