"""What one trial does: load its data (data.py), build its model (models.py), train it (loop.py).

Everything here imports torch, so nothing outside a trial imports this package eagerly.
"""
