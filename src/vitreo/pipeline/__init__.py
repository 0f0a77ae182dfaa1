"""Projects and their pipelines of jobs, RELION-compatible (default_pipeline.star, job.star).

``project`` (the directory, lock-guarded edits), ``submit`` (new jobs, continuations),
``launch``/``execute`` (running a job in a child process or through a ``queue``),
``job_state`` (statuses, marks, aborts, aliases), ``autorun`` (scheduled jobs,
on-the-fly), ``trash``, ``clean``, ``recover`` and ``flowchart``.
"""
