"""The audio core, without I/O: sample conversions and levels (`dsp`), the streaming resampler
(`resampler`, with its filter in `filter_design` and one class per computation layout in
`resampler_layouts`), the playback jitter buffer (`jitter`), the voice trigger's gate and
pre-roll ring (`vad_gate`) and the earcons (`earcons`). The devices are in
`edgevoice.adapters`.
"""
