"""Running a sweep: the sweep loop (`runner`), one unit of work and what a worker runs
(`trial`), where tasks run (`executors`: this process, local workers, a Dask cluster), how
the sweep's processes end however it ends (`signals`, `forkserver_guard`), where trials train
(`devices`) and the progress line (`progress`). It knows no dataset and no model: a trainer
plug-in (`usercode/plugin.py`) trains each task.
"""
