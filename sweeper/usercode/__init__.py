"""The plug-in seam and the user's own code: what a trainer is (`plugin`), what the user's
functions and classes reach (`usercode`), where they are (`source`), what identifies them so
that a changed model is never resumed as the old one (`identity`), and how they travel to
the workers (`shipping`).
"""
