"""Launchers: run a suite's cells as jobs (``local``: N at once here; ``slurm``: on a cluster).

:mod:`.jobs` plans the jobs and holds what they run; :mod:`.local` and :mod:`.slurm` submit them;
:mod:`repro.suite.status` shows where they are.
"""
