"""Jinja2 templates of the Markdown report, shipped as the package hnet_diag.report_templates."""
