"""How our Rasa server is started: ``python -m spine_rasa run ...`` (the Procfile's ``rasa:`` line).

The same command line as ``rasa``, with the serving fixes of :mod:`spine_rasa.fixes` applied first
(measured in bench/levers.md). ``SPINE_RASA_FIXES=0`` starts Rasa exactly as shipped.
"""
