"""Passgate's benchmark: starts the server, loads it over loopback, prints a Markdown table.

Run it with ``python -m bench.run`` (or ``make bench``); see ``bench/run.py`` for options.
"""
