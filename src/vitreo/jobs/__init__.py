"""Job types: one module per type, each with a parameter spec and ``run()``.

The contract (see ``spec.JobSpec``): parameters with RELION's names, defaults, GUI tabs
and help; consumed node types (INPUT_NODE options) and produced output nodes; clean
rules; a continue rule; and ``run(job_dir, params, ctx)``. ``registry`` lists the job
types; ``vitreo.pipeline`` runs them.
"""
