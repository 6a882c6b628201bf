"""The audio core, without I/O: sample conversions and levels (`dsp`), the streaming resampler
(`resampler`) and the playback jitter buffer (`jitter`). The devices are in `edgevoice.adapters`.
"""
