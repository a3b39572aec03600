"""FPN Explorer's Gradio app. Run `python app.py` (see app.py for flags); the pieces:

    images    robust image loading (clear messages for bad files)      examples  offline example images (+ GT)
    models    checkpoint registry (lazy, cached)                       analysis  one model run per (image, model)
    views     one function per view (also the API endpoints)           ui        the Gradio Blocks
"""
