"""What a study is: the `Study` and its checks (`study`), loading a study file (`studyfile`),
search-space primitives (`space`), what a seed decides (`seeds`), and how a study is run as
opposed to what it trains (`options`).
"""
