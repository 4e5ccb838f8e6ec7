"""NLU building blocks: spaCy pipeline build, custom Rasa components, evaluation."""
