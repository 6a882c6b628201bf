"""The real-time audio harness (rtkit.py) and the daemon process runner (daemonkit.py).

Their fixtures (`pulse_server`, `rt_audio`, `daemons`) are re-exported by tests/conftest.py
for every test directory, which also puts this directory on sys.path.
"""
