"""edgevoice: a headless voice daemon for Raspberry-Pi-class devices, speaking to Gemini Live."""

__version__ = "0.1.0"
