"""NLU building blocks of the Spine Care Assistant (spaCy pipeline build, custom Rasa components)."""
