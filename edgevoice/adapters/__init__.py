"""Adapters: thin shells that implement the ports on top of I/O libraries (pyaudio, gpiozero, ...).

Only modules in this package import I/O libraries. Threads owned by a library (PortAudio
callbacks, gpiozero callbacks) reach the event loop only through `loop.call_soon_threadsafe`;
blocking library calls run off the event loop.
"""
