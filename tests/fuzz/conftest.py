"""The fuzz tests' marker: `pytest -m fuzz` runs only them, `-m "not fuzz"` leaves them out."""


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: the fuzz targets (tests/fuzz; DL_FUZZ_SECONDS=N runs each N seconds)")
