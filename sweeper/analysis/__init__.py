"""The analysis side: it reads results folders only (trials.csv, curves.csv, study.json)
and turns them into summaries over seeds, paired comparisons, plots, HTML and findings pages.
"""
