from tests.fixtures.tiny_models import tiny_model_dir  # noqa: F401  (registers the fixture)
