# Root pytest configuration. Notebooks are executed by nbmake from their .ipynb files; their
# jupytext .py twins must not be imported as doctest modules (that would run them a second time).
collect_ignore_glob = ["notebooks/*.py", "build/*", "exercises/*"]
