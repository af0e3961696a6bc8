"""The results folder's format in one place: its file names and columns (`layout`), how rows
are written to survive a kill (`store`) and read back when damaged (`repair`), tensors as
safetensors (`checkpoint`), who wrote which rows (`provenance`), and the files a running
sweep leaves for its watchers (`live` writes them, `live_reader` reads them).

Everything that reads a results folder (`analysis`, `web`, `integrations`) reads it through
this package.
"""
