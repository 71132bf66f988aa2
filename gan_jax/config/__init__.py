"""Run configurations as data: ``schema`` (the Config, its rules, presets and overrides; imports
no JAX) and ``build`` (models, optimisers, objective and initial state from a Config)."""
