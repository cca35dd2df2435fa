"""`gpufleet report`: an offline fleet health report (report.html with its PNGs beside it).

The report is a reader of the store like the dashboards: named queries over rollups for the
figures (`data`), the alert rules' own evaluation for what fired (`alerts`), matplotlib for
the images (`plots`), one self-contained HTML page (`html`), tied together in `build`.
"""
