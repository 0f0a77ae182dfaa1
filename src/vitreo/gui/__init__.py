"""The web GUI: a FastAPI JSON API over the pipeline and a static front end (``vitreo gui``).

``app`` builds the application, ``server`` starts it with uvicorn. ``security`` guards every
request (start-up token, same-origin only, allowed hosts), ``paths`` keeps every file the API
reads or writes inside the project. ``jobs_api`` drives the pipeline with the same functions as
the CLI (``launching`` starts jobs and autorun, ``job_specs`` and ``job_logs`` feed the panels);
``display_api`` renders micrographs, stacks (``stacks``, ``images``), maps and STAR tables and
saves selections (``selection``; 3D classes via ``volume_views``); ``plots_api`` gives CTF fits
(``ctf_fit``), angular distributions and motion tracks for the page's plots; ``picking_api``
picks particles on ManualPick/AutoPick jobs (``picking``). The GUI is only a view and editor of the project directory: closing it never
stops a job. The front end lives in ``static/`` (no build step; NGL vendored in ``static/vendor``).
"""
