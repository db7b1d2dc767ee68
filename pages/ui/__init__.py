"""The app's shared code, one job per module; pages import what they need from ``pages.ui.<module>``.

- :mod:`.guard`    page()/guard(): error handling, and the Streamlit PagesManager patch
- :mod:`.session`  the runs folder, the background start, session-state keys, the current set-up and run
- :mod:`.widgets`  typed widgets built from ParamSpecs (widget <-> value <-> URL)
- :mod:`.form`     the form's state: filled from a recipe, a preset or a run's config; checks with the data
- :mod:`.sidebar`  the set-up app.py draws in the sidebar (the Playground on its page): preset, dataset, method, parameters -> the run config
- :mod:`.url`      the set-up as query parameters: load from a link, mirror back into it
- :mod:`.uploads`  the data-file uploader of the "file" dataset
- :mod:`.presets`  presets loaded from assets/presets.json, and applying them
- :mod:`.pickers`  run and group pickers, run titles, run state and scores
- :mod:`.readers`  cached readers of run files: snapshots, artifacts, embeddings
- :mod:`.groups`   submitting a group of runs (comparisons, sweeps) all or nothing
- :mod:`.controls` Pause / Resume / Step / Stop for a run or a group of runs
- :mod:`.live`     the Playground's views: the data before a run, live panels, a clicked point, replay
- :mod:`.figures`  the papers' Fig. 1 and Table 2 in one click
- :mod:`.explain`  the Explain texts (assets/explain/*.md)

Nothing here trains: runs are submitted to :mod:`deepclust_core.jobs`, and the disk is read through
:mod:`deepclust_core.store`.
"""
