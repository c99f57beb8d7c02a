"""reports: tables, plots and an HTML report read from run folders with pandas and matplotlib.

:mod:`reports.data` turns run folders into tables (leaderboard, breakdowns, watermark robustness,
detector ROC), :mod:`reports.plots` draws them, :mod:`reports.html` writes the static ``report.html``
(``synthvid report RUN_DIR``), and ``reports/notebooks/`` holds the Jupyter notebooks that show the
same for any run folder (set ``SYNTHVID_RUN``, or inject ``run_dir`` papermill-style).
"""
