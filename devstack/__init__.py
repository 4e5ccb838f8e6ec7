"""Start this project's real processes (Rasa, actions, website, fakes) and fresh databases on
free ports: shared by the tests and the benchmark, which must not import the test package."""
