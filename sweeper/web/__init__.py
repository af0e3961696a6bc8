"""The live page (`sweep serve`): a read-only web application over a results root. `page`
computes its JSON from the results folders (through `storage` and `analysis`), `serve` routes
it with Starlette, and `static/` holds the page's HTML, script, style and chart library.
"""
