"""The ``hello`` example code location: a small op job, a failing job and three assets."""
