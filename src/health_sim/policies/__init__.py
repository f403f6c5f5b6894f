"""Policy levers: one module each, holding the lever's parameters and its effect.

:mod:`~health_sim.policies.registry` lists them (the schema's ``policies`` section);
:mod:`~health_sim.policies.lever` says what a lever is; :mod:`~health_sim.policies.run`
applies them to a run day by day. This layer imports only :mod:`health_sim.core`: the
model it acts on is handed to it.
"""
